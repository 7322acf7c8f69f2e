/// The rows of a completed query, copied out of libpq's result (no C memory is retained).
public struct PostgresRows: Sendable, RandomAccessCollection {
    let storage: ResultStorage
    /// Rows affected by INSERT/UPDATE/DELETE/… (PQcmdTuples), 0 when the command reports none.
    public let affectedRows: Int

    init(storage: ResultStorage, affectedRows: Int) {
        self.storage = storage
        self.affectedRows = affectedRows
    }

    /// The result's column names, in order.
    public var columnNames: [String] { storage.columns.names }

    /// 0
    public var startIndex: Int { 0 }
    /// The number of rows.
    public var endIndex: Int { storage.rowCount }

    /// The row at `position`.
    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < storage.rowCount, "row index out of range")
        return PostgresRow(storage: storage, row: position)
    }
}
