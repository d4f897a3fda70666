/// Interned object and receptacle types of the household env: ALFWorld's catalog (HouseholdCatalog) as index tables,
/// so the env compares and looks up small integers and writes names as pre-encoded bytes.
final class HouseholdTypes: Sendable {
    static let shared = HouseholdTypes()

    let objectNames: [String]
    let objectBytes: [[UInt8]]
    let receptacleNames: [String]
    let receptacleBytes: [[UInt8]]
    let objectIndex: [String: Int]
    let receptacleIndex: [String: Int]
    /// canContain[receptacleType][objectType]
    let canContain: [[Bool]]
    let openable: [Bool]
    let cleanable: [Bool], heatable: [Bool], coolable: [Bool], toggleable: [Bool], receptacleObject: [Bool]
    /// Lamps are fixed in place (not pickupable), as in ALFRED.
    let pickupable: [Bool]

    init() {
        let c = HouseholdCatalog.self
        objectNames = c.objectTypes
        objectBytes = objectNames.map { Array($0.utf8) }
        receptacleNames = c.receptacleTypes
        receptacleBytes = receptacleNames.map { Array($0.utf8) }
        var oi: [String: Int] = [:], ri: [String: Int] = [:]
        for (i, n) in objectNames.enumerated() { oi[n] = i }
        for (i, n) in receptacleNames.enumerated() { ri[n] = i }
        objectIndex = oi; receptacleIndex = ri
        canContain = receptacleNames.map { r in c.objectTypes.map { (c.canContain[r] ?? []).contains($0) } }
        openable = receptacleNames.map { c.openable.contains($0) }
        cleanable = objectNames.map { c.cleanable.contains($0) }
        heatable = objectNames.map { c.heatable.contains($0) }
        coolable = objectNames.map { c.coolable.contains($0) }
        toggleable = objectNames.map { c.toggleable.contains($0) }
        receptacleObject = objectNames.map { c.receptacleObjects.contains($0) }
        pickupable = objectNames.map { !c.toggleable.contains($0) }
    }

    /// Index of a catalog object type (the room tables only name catalog types; a test checks every name).
    func object(_ name: String) -> Int { objectIndex[name] ?? -1 }
    func receptacle(_ name: String) -> Int { receptacleIndex[name] ?? -1 }
}
