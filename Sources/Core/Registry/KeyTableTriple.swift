/// A device's three key tables: three distinct, non-negative table ids, in assignment order.
public struct KeyTableTriple: RandomAccessCollection, Sendable, Hashable {
    private let ids: [Int]

    /// nil unless `ids` holds exactly three distinct ids from 0 to 65,535.
    public init?(_ ids: [Int]) {
        guard ids.count == BirthmarkProtocol.tablesPerDevice, Set(ids).count == ids.count,
              ids.allSatisfy({ (0...65_535).contains($0) }) else { return nil }
        self.ids = ids
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { ids.count }
    public subscript(position: Int) -> Int { ids[position] }
}
