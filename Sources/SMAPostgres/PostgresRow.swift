/// One row of a result; cells by column index or name.
public struct PostgresRow: Sendable {
    let storage: ResultStorage
    let row: Int

    /// The number of columns.
    public var columnCount: Int { storage.columns.count }

    /// The result's column names, in order.
    public var columnNames: [String] { storage.columns.names }

    /// The cell in column `column`; an out-of-range index gives a cell whose `decode` throws `.decoding`.
    public subscript(_ column: Int) -> PostgresCell {
        guard column >= 0 && column < storage.columns.count else {
            return PostgresCell(missingColumn: "#\(column)")
        }
        return PostgresCell(
            bytes: storage.value(row: row, column: column),
            type: storage.columns.types[column],
            columnName: storage.columns.names[column]
        )
    }

    /// The cell of the first column named `name`; an unknown name gives a cell whose `decode` throws `.decoding`.
    public subscript(_ name: String) -> PostgresCell {
        guard let column = storage.columns.index(of: name) else { return PostgresCell(missingColumn: name) }
        return self[column]
    }

    /// Decodes column `column` as `T` (shorthand for `row[column].decode(T.self)`).
    public func decode<T: PostgresDecodable>(_ column: Int, as type: T.Type = T.self) throws(PostgresError) -> T {
        try self[column].decode(type)
    }

    /// Decodes the column named `name` as `T` (shorthand for `row[name].decode(T.self)`).
    public func decode<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws(PostgresError) -> T {
        try self[name].decode(type)
    }
}
