internal import CLibPQ

extension PostgresConnection {
    /// Runs a query and calls `body` for each row as it arrives (libpq single-row mode), binary format,
    /// holding one row in memory at a time.
    ///
    /// If `body` throws, the statement is cancelled on the server, the remaining results are discarded,
    /// and the body's error is rethrown; the connection stays usable.
    public func forEachRow(_ query: SQLQuery, _ body: (PostgresRow) throws -> Void) throws {
        if let error = query.encodingError { throw error }
        let sent = try query.withLibpqParameters { count, types, values, lengths, formats in
            PQsendQueryParams(handle, query.sql, count, types, values, lengths, formats, 1)
        }
        guard sent == 1 else { throw connectionError() }
        var failure: (any Error)?
        if PQsetSingleRowMode(handle) != 1 {
            failure = PostgresError(code: .queryFailed, message: "could not enter single-row mode")
        }
        var columns: RowDescription?
        while let result = PQgetResult(handle) {
            defer { PQclear(result) }
            guard failure == nil else { continue }  // drain what is left after an error
            switch PQresultStatus(result) {
            case PGRES_SINGLE_TUPLE:
                let storage = ResultStorage(result: result, columns: columns)
                columns = storage.columns
                do {
                    try body(PostgresRow(storage: storage, row: 0))
                } catch {
                    failure = error
                    cancelRunningStatement()
                }
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                break
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
                failure = PostgresError(code: .queryFailed, message: "COPY is not supported by this wrapper")
                abandonCopy()
            default:
                failure = makeError(result: result)
            }
        }
        if let failure { throw failure }
    }
}
