import MoonTensor

/// An ordered list of child modules named "0", "1", ... (as `nn.ModuleList`).
public final class ModuleList<M: Module>: Module {
    public private(set) var items: [M] = []

    public init(_ items: [M] = []) {
        super.init()
        for m in items { append(m) }
    }

    public func append(_ m: M) {
        registerModule(String(items.count), m)
        items.append(m)
    }

    public var count: Int { items.count }
    public subscript(i: Int) -> M { items[i] }
}
