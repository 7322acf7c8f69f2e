internal import CLibPQ

/// Column names and types of a result, shared by all its rows.
final class RowDescription: Sendable {
    let names: [String]
    let types: [PostgresDataType]
    private let indexByName: [String: Int]

    init(names: [String], types: [PostgresDataType]) {
        self.names = names
        self.types = types
        var index: [String: Int] = [:]
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        self.indexByName = index
    }

    /// Reads the column names and types of a PGresult (copied; the result may be cleared afterwards).
    convenience init(result: OpaquePointer) {
        let count = Int(PQnfields(result))
        var names: [String] = []
        var types: [PostgresDataType] = []
        names.reserveCapacity(count)
        types.reserveCapacity(count)
        for column in 0..<Int32(count) {
            names.append(PQfname(result, column).map { String(cString: $0) } ?? "?column?")
            types.append(PostgresDataType(oid: PQftype(result, column)))
        }
        self.init(names: names, types: types)
    }

    var count: Int { names.count }

    /// The index of the first column with this name.
    func index(of name: String) -> Int? { indexByName[name] }

    /// True when `result` has the same columns (single-row mode reuses the first row's description).
    func matches(result: OpaquePointer) -> Bool {
        guard Int(PQnfields(result)) == names.count else { return false }
        for column in 0..<names.count where PQftype(result, Int32(column)) != types[column].oid { return false }
        return true
    }
}
