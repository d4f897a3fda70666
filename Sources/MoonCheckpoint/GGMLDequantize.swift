import Dispatch
import Foundation

/// Dequantisation of ggml tensor data to float32, block by block as ggml defines the formats (ggml-quants.c).
/// Large tensors are split over threads by whole blocks.
public enum GGMLDequantize {
    /// Threads used for large tensors.
    nonisolated(unsafe) public static var threads = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Dequantises `count` elements (a whole number of blocks) of `type` at `src` into `dst`.
    public static func run(_ type: GGMLType, _ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        let bs = type.blockSize, bb = type.blockBytes
        let blocks = count / bs
        let perBlockElements = 1 << 16
        let chunks = min(threads, max(1, count / perBlockElements))
        if chunks <= 1 {
            kernel(type, src, blocks: blocks, dst)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = blocks * c / chunks, hi = blocks * (c + 1) / chunks
            kernel(type, src + lo * bb, blocks: hi - lo, dst + lo * bs)
        }
    }

    static func kernel(_ type: GGMLType, _ src: UnsafeRawPointer, blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        let s = src.assumingMemoryBound(to: UInt8.self)
        switch type {
        case .f32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: blocks * 4)
        case .f16:
            for i in 0..<blocks { dst[i] = halfBitsToFloat(h16(s + 2 * i)) }
        case .bf16:
            for i in 0..<blocks { dst[i] = bfloat16BitsToFloat(h16(s + 2 * i)) }
        case .q4_0:
            for b in 0..<blocks {
                let p = s + b * 18, y = dst + b * 32
                let d = halfBitsToFloat(h16(p)), q = p + 2
                for j in 0..<16 {
                    y[j] = Float(Int32(q[j] & 0x0F) - 8) * d
                    y[j + 16] = Float(Int32(q[j] >> 4) - 8) * d
                }
            }
        case .q4_1:
            for b in 0..<blocks {
                let p = s + b * 20, y = dst + b * 32
                let d = halfBitsToFloat(h16(p)), m = halfBitsToFloat(h16(p + 2)), q = p + 4
                for j in 0..<16 {
                    y[j] = Float(q[j] & 0x0F) * d + m
                    y[j + 16] = Float(q[j] >> 4) * d + m
                }
            }
        case .q5_0:
            for b in 0..<blocks {
                let p = s + b * 22, y = dst + b * 32
                let d = halfBitsToFloat(h16(p)), qh = u32(p + 2), q = p + 6
                for j in 0..<16 {
                    let h0 = UInt8(truncatingIfNeeded: (qh >> UInt32(j)) << 4) & 0x10
                    let h1 = UInt8(truncatingIfNeeded: qh >> UInt32(j + 12)) & 0x10
                    y[j] = Float(Int32((q[j] & 0x0F) | h0) - 16) * d
                    y[j + 16] = Float(Int32((q[j] >> 4) | h1) - 16) * d
                }
            }
        case .q5_1:
            for b in 0..<blocks {
                let p = s + b * 24, y = dst + b * 32
                let d = halfBitsToFloat(h16(p)), m = halfBitsToFloat(h16(p + 2)), qh = u32(p + 4), q = p + 8
                for j in 0..<16 {
                    let h0 = UInt8(truncatingIfNeeded: (qh >> UInt32(j)) << 4) & 0x10
                    let h1 = UInt8(truncatingIfNeeded: qh >> UInt32(j + 12)) & 0x10
                    y[j] = Float((q[j] & 0x0F) | h0) * d + m
                    y[j + 16] = Float((q[j] >> 4) | h1) * d + m
                }
            }
        case .q8_0:
            for b in 0..<blocks {
                let p = s + b * 34, y = dst + b * 32
                let d = halfBitsToFloat(h16(p))
                let q = UnsafeRawPointer(p + 2).assumingMemoryBound(to: Int8.self)
                for j in 0..<32 { y[j] = Float(q[j]) * d }
            }
        case .q4_K:
            var sc = [UInt8](repeating: 0, count: 8), mn = sc
            for b in 0..<blocks {
                let p = s + b * 144, y = dst + b * 256
                let d = halfBitsToFloat(h16(p)), dmin = halfBitsToFloat(h16(p + 2))
                kScaleMin(p + 4, &sc, &mn)
                let q = p + 16
                for c in 0..<4 {
                    let d1 = d * Float(sc[2 * c]), m1 = dmin * Float(mn[2 * c])
                    let d2 = d * Float(sc[2 * c + 1]), m2 = dmin * Float(mn[2 * c + 1])
                    let qc = q + 32 * c, yc = y + 64 * c
                    for l in 0..<32 {
                        yc[l] = d1 * Float(qc[l] & 0x0F) - m1
                        yc[l + 32] = d2 * Float(qc[l] >> 4) - m2
                    }
                }
            }
        case .q5_K:
            var sc = [UInt8](repeating: 0, count: 8), mn = sc
            for b in 0..<blocks {
                let p = s + b * 176, y = dst + b * 256
                let d = halfBitsToFloat(h16(p)), dmin = halfBitsToFloat(h16(p + 2))
                kScaleMin(p + 4, &sc, &mn)
                let qh = p + 16, q = p + 48
                for c in 0..<4 {
                    let d1 = d * Float(sc[2 * c]), m1 = dmin * Float(mn[2 * c])
                    let d2 = d * Float(sc[2 * c + 1]), m2 = dmin * Float(mn[2 * c + 1])
                    let qc = q + 32 * c, yc = y + 64 * c
                    let s1 = UInt8(2 * c), s2 = UInt8(2 * c + 1)
                    for l in 0..<32 {
                        let hi1 = ((qh[l] >> s1) & 1) << 4, hi2 = ((qh[l] >> s2) & 1) << 4
                        yc[l] = d1 * Float((qc[l] & 0x0F) | hi1) - m1
                        yc[l + 32] = d2 * Float((qc[l] >> 4) | hi2) - m2
                    }
                }
            }
        case .q6_K:
            for b in 0..<blocks {
                let p = s + b * 210, y = dst + b * 256
                let ql0 = p, qh0 = p + 128
                let scales = UnsafeRawPointer(p + 192).assumingMemoryBound(to: Int8.self)
                let d = halfBitsToFloat(h16(p + 208))
                for half in 0..<2 {
                    let ql = ql0 + 64 * half, qh = qh0 + 32 * half, yh = y + 128 * half, sc = scales + 8 * half
                    for l in 0..<32 {
                        let isc = l / 16
                        let q1 = Int32((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32
                        let q2 = Int32((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32
                        let q3 = Int32((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                        let q4 = Int32((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                        yh[l] = d * Float(sc[isc]) * Float(q1)
                        yh[l + 32] = d * Float(sc[isc + 2]) * Float(q2)
                        yh[l + 64] = d * Float(sc[isc + 4]) * Float(q3)
                        yh[l + 96] = d * Float(sc[isc + 6]) * Float(q4)
                    }
                }
            }
        }
    }

    @inline(__always) static func h16(_ p: UnsafePointer<UInt8>) -> UInt16 { UInt16(p[0]) | UInt16(p[1]) << 8 }
    @inline(__always) static func u32(_ p: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
    }

    /// The eight 6-bit scales and mins of a Q4_K/Q5_K block from its 12 packed bytes.
    @inline(__always) static func kScaleMin(_ q: UnsafePointer<UInt8>, _ sc: inout [UInt8], _ mn: inout [UInt8]) {
        for j in 0..<4 {
            sc[j] = q[j] & 63
            mn[j] = q[j + 4] & 63
            sc[j + 4] = (q[j + 8] & 0x0F) | ((q[j] >> 6) << 4)
            mn[j + 4] = (q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4)
        }
    }
}
