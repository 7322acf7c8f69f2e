internal import CLibPQ
import Logging

extension PostgresConnection {
    /// A transaction isolation level (`BEGIN ISOLATION LEVEL …`).
    public enum IsolationLevel: String, Sendable {
        /// READ COMMITTED (PostgreSQL's default).
        case readCommitted = "READ COMMITTED"
        /// REPEATABLE READ (snapshot isolation).
        case repeatableRead = "REPEATABLE READ"
        /// SERIALIZABLE; be ready to retry on SQLSTATE 40001 (`isRetryableTransactionFailure`).
        case serializable = "SERIALIZABLE"
    }

    /// Runs `body` between BEGIN and COMMIT; on a throw it rolls back and rethrows the body's error.
    ///
    /// Throws `.queryFailed` (SQLSTATE 25P02) if the body swallowed a failed statement, since the server
    /// then answers COMMIT with ROLLBACK. Nested calls are refused rather than silently joined.
    /// - Parameters:
    ///   - isolation: The isolation level, or nil for the session's default.
    ///   - body: The work; receives this connection.
    public func transaction<T>(
        isolation: IsolationLevel? = nil,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        guard transactionStatus == PQTRANS_IDLE else {
            throw PostgresError(code: .queryFailed, message: "a transaction is already open on this connection (nested transactions are not supported)")
        }
        try execute(script: isolation.map { "BEGIN ISOLATION LEVEL \($0.rawValue)" } ?? "BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            rollbackIfOpen()
            throw error
        }
        try commit()
        return value
    }

    /// COMMIT, failing if the server rolled back instead, or if it stopped waiting for synchronous replication.
    ///
    /// With synchronous standbys (the pg_auto_failover formation), a COMMIT whose wait is cancelled is reported
    /// by the server as successful with only a WARNING, though the transaction may exist on the primary alone and
    /// be lost in a failover. Such a commit throws `.commitNotReplicated`: the caller must not acknowledge it.
    private func commit() throws(PostgresError) {
        resetSyncReplicationWarning()
        let result = PQexec(handle, "COMMIT")
        guard let result else { throw connectionError() }
        defer { PQclear(result) }
        if syncReplicationWaitWasCancelled {
            throw PostgresError(
                code: .commitNotReplicated,
                message: "the commit was not confirmed by a synchronous standby (the server stopped waiting for replication); it may be lost in a failover"
            )
        }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else {
            let error = makeError(result: result)
            rollbackIfOpen()
            throw error
        }
        if let status = PQcmdStatus(result), String(cString: status) == "ROLLBACK" {
            throw PostgresError(
                code: .queryFailed,
                message: "transaction was rolled back: a statement in it failed",
                sqlState: "25P02"
            )
        }
    }

    /// Sends ROLLBACK if a transaction block is open (also an aborted one); errors are logged, not thrown.
    func rollbackIfOpen() {
        let status = transactionStatus
        guard status == PQTRANS_INTRANS || status == PQTRANS_INERROR else { return }
        do throws(PostgresError) {
            try execute(script: "ROLLBACK")
        } catch {
            logger.warning("postgres rollback failed", metadata: ["postgres.error": "\(error)"])
        }
    }
}
