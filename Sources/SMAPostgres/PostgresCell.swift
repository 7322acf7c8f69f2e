/// One value of a row, in binary format, decoded on demand with `decode(_:)`.
public struct PostgresCell: Sendable {
    /// The value's bytes in PostgreSQL's binary format; nil for NULL (or a missing column).
    public let bytes: ArraySlice<UInt8>?
    /// The column's type.
    public let type: PostgresDataType
    /// The column's name (or `#n` / the requested name for a missing column).
    public let columnName: String
    /// False when the requested column does not exist.
    let exists: Bool

    init(bytes: ArraySlice<UInt8>?, type: PostgresDataType, columnName: String) {
        self.bytes = bytes
        self.type = type
        self.columnName = columnName
        self.exists = true
    }

    init(missingColumn name: String) {
        self.bytes = nil
        self.type = .unspecified
        self.columnName = name
        self.exists = false
    }

    /// True for SQL NULL.
    public var isNull: Bool { bytes == nil }

    /// Decodes the value as `T`: `Int`, `Int64`, `Int32`, `UInt64`, `Bool`, `String`, `Double`, `[UInt8]` (bytea),
    /// `PostgresTimestamp`, `[Int]`/`[String]`/… (arrays), or `T?` to get nil for NULL.
    ///
    /// Throws `.decoding` naming the column on a type mismatch, on NULL for a non-optional `T`, or for a missing column.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self) throws(PostgresError) -> T {
        guard exists else { throw PostgresError.decoding("no such column in the result").forColumn(columnName) }
        do {
            if let bytes {
                return try T.decode(from: bytes, type: self.type)
            } else {
                return try T.decodeNull()
            }
        } catch {
            throw error.forColumn(columnName)
        }
    }
}
