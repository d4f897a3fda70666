/// Element types of the safetensors format. The declaration order matches the reference implementation's
/// `Dtype` ordering, which its writer uses (descending) to order tensors in a file.
public enum SafeTensorsDType: String, CaseIterable, Sendable, Comparable {
    case BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .F64, .I64, .U64: return 8
        }
    }

    /// F16, BF16, F32 and F64 (readable and writable as Float).
    public var isFloat: Bool {
        switch self {
        case .F16, .BF16, .F32, .F64: return true
        default: return false
        }
    }

    /// Integer and boolean types (readable and writable as Int64).
    public var isInteger: Bool {
        switch self {
        case .BOOL, .U8, .I8, .I16, .U16, .I32, .U32, .I64, .U64: return true
        default: return false
        }
    }

    var rank: Int { SafeTensorsDType.allCases.firstIndex(of: self)! }
    public static func < (a: SafeTensorsDType, b: SafeTensorsDType) -> Bool { a.rank < b.rank }
}

/// A thrown error for anything wrong with a safetensors file or a request to one.
public struct SafeTensorsError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public init(path: String, _ message: String) { self.path = path; self.message = message }
    public var description: String { "safetensors: \(path): \(message)" }
}

/// A tensor's entry in a safetensors header.
public struct SafeTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    /// Byte range relative to the start of the data section (the `data_offsets` of the header).
    public let dataOffsets: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { dataOffsets.count }

    public init(name: String, dtype: SafeTensorsDType, shape: [Int], dataOffsets: Range<Int>) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.dataOffsets = dataOffsets
    }
}

/// A named tensor held in memory as flat row-major values: floats for F16/BF16/F32/F64 (the dtype says how
/// it is stored on disk), Int64 for integer and boolean types. This is moonlab's interchange value for
/// checkpoint I/O and merging; the tensor layer bridges it to its own `Tensor`.
public struct NamedTensor: Sendable, Equatable {
    public enum Values: Sendable, Equatable {
        case float([Float])
        case int([Int64])
    }

    public var name: String
    public var shape: [Int]
    public var dtype: SafeTensorsDType
    public var values: Values

    public init(name: String, shape: [Int], floats: [Float], dtype: SafeTensorsDType = .F32) {
        precondition(dtype.isFloat, "NamedTensor(floats:) needs a float dtype, got \(dtype)")
        precondition(shape.reduce(1, *) == floats.count, "NamedTensor \(name): shape \(shape) does not match \(floats.count) values")
        self.name = name; self.shape = shape; self.dtype = dtype; self.values = .float(floats)
    }

    public init(name: String, shape: [Int], ints: [Int64], dtype: SafeTensorsDType = .I64) {
        precondition(dtype.isInteger, "NamedTensor(ints:) needs an integer dtype, got \(dtype)")
        precondition(shape.reduce(1, *) == ints.count, "NamedTensor \(name): shape \(shape) does not match \(ints.count) values")
        self.name = name; self.shape = shape; self.dtype = dtype; self.values = .int(ints)
    }

    public var count: Int { shape.reduce(1, *) }

    /// The values if this is a float tensor, else nil.
    public var floats: [Float]? { if case let .float(v) = values { return v } else { return nil } }
    /// The values if this is an integer tensor, else nil.
    public var ints: [Int64]? { if case let .int(v) = values { return v } else { return nil } }
}

// MARK: - half-precision conversions (bit exact, no dependence on Float16 availability)

@inline(__always) public func halfBitsToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1F
    let mant = UInt32(h & 0x3FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        // subnormal: mant * 2^-24
        let v = Float(mant) * Float(bitPattern: 0x3380_0000)  // 2^-24
        return sign != 0 ? -v : v
    }
    if exp == 0x1F {
        return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13))
    }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
}

/// Float → IEEE half, round to nearest even (as PyTorch/NumPy do); NaN stays NaN, overflow → ±inf.
@inline(__always) public func floatToHalfBits(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16((x >> 16) & 0x8000)
    let exp = Int((x >> 23) & 0xFF)
    var mant = x & 0x7F_FFFF
    if exp == 0xFF {  // inf or nan
        return sign | 0x7C00 | (mant != 0 ? UInt16(0x200 | (mant >> 13)) : 0)
    }
    let e = exp - 127 + 15
    if e >= 0x1F { return sign | 0x7C00 }
    if e <= 0 {
        if e < -10 { return sign }  // rounds to zero
        mant |= 0x80_0000
        let shift = UInt32(14 - e)
        var half = mant >> shift
        let rem = mant & ((1 << shift) - 1)
        let halfway = UInt32(1) << (shift - 1)
        if rem > halfway || (rem == halfway && (half & 1) == 1) { half += 1 }
        return sign | UInt16(half)
    }
    var h = UInt32(e) << 10 | (mant >> 13)
    let rem = mant & 0x1FFF
    if rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1) { h += 1 }  // may carry into exponent: correct
    return sign | UInt16(h)
}

@inline(__always) public func bfloat16BitsToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

/// Float → bfloat16, round to nearest even; NaN stays a quiet NaN.
@inline(__always) public func floatToBFloat16Bits(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    if f.isNaN { return UInt16(x >> 16) | 0x0040 }
    let lsb = (x >> 16) & 1
    let rounded = x &+ 0x7FFF &+ lsb
    return UInt16(rounded >> 16)
}
