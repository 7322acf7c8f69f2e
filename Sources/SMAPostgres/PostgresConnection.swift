internal import CLibPQ
public import Logging

#if canImport(Darwin)
internal import Darwin
#elseif canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// One libpq connection (`PGconn`): blocking calls, so run it on a `NIOThreadPool` thread (the pool does).
///
/// Not thread-safe: use it from one thread at a time. It is `@unchecked Sendable` only so that
/// `PostgresPool` can hand it to one thread-pool thread after another; the pool never lends it
/// to two callers at once, and callers must not keep it beyond the closure they were given it in.
/// `PQfinish` runs in `deinit`.
public final class PostgresConnection: @unchecked Sendable {
    /// The `PGconn*`.
    let handle: OpaquePointer
    /// Receives libpq notices; referenced (unretained) by libpq, so it lives as long as `handle`.
    private let noticeContext: NoticeContext
    /// Scrubbed from libpq messages that could echo it.
    private let password: String?
    /// Logs notices (debug) and connection resets.
    public let logger: Logger

    /// Connects with a libpq conninfo (`host=… dbname=…` or `postgresql://…`); blocks until connected or failed.
    ///
    /// The client encoding is forced to UTF8. Errors never contain the password.
    /// - Parameters:
    ///   - conninfo: A libpq connection string or URI; add `connect_timeout=<s>` to bound the wait.
    ///   - logger: Receives server notices at debug level.
    public init(conninfo: String, logger: Logger) throws(PostgresError) {
        let password = try Self.validatedPassword(conninfo)
        let keywords = ["dbname", "fallback_application_name", "client_encoding"]
        let values = [conninfo, "sma", "UTF8"]
        let connection = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.scrub(Self.trimmed(PQerrorMessage(connection)) ?? "connection failed", password: password)
            PQfinish(connection)
            throw PostgresError(code: .connectionFailed, message: message)
        }
        self.handle = connection
        self.password = password
        self.logger = logger
        self.noticeContext = NoticeContext(logger: logger)
        PQsetNoticeReceiver(connection, noticeReceiver, Unmanaged.passUnretained(noticeContext).toOpaque())
    }

    deinit {
        PQfinish(handle)
    }

    /// Clears the synchronous-replication warning flag; `commit()` calls it before COMMIT.
    func resetSyncReplicationWarning() { noticeContext.syncReplicationWaitCancelled = false }

    /// Whether the server warned, since the last reset, that it stopped waiting for synchronous replication.
    var syncReplicationWaitWasCancelled: Bool { noticeContext.syncReplicationWaitCancelled }

    /// PostgreSQL's warning when a COMMIT's wait for its synchronous standbys is cut short (by a cancel, a
    /// statement timeout or a termination): "canceling wait for synchronous replication ..." — the server
    /// then reports the COMMIT as successful although no standby may hold it.
    static func isSyncReplicationCancelWarning(_ message: String?) -> Bool {
        guard let message else { return false }
        return message.hasPrefix("canceling wait for synchronous replication")
    }

    /// True when the connection is not usable (PQstatus is not CONNECTION_OK); `reset()` reconnects.
    ///
    /// libpq notices a dead server only when it next talks to it, so this can be false for a connection
    /// the server closed while it was idle.
    public var isBroken: Bool { PQstatus(handle) != CONNECTION_OK }

    /// Closes and reopens the connection with the same parameters (PQreset); check `isBroken` afterwards.
    public func reset() {
        PQreset(handle)
        if PQstatus(handle) == CONNECTION_OK {
            logger.debug("postgres connection reset")
        } else {
            logger.warning(
                "postgres connection reset failed",
                metadata: ["postgres.error": "\(Self.scrub(Self.trimmed(PQerrorMessage(handle)) ?? "", password: password))"]
            )
        }
    }

    /// The server process id of this connection (`pg_backend_pid()`), 0 when broken.
    public var backendPID: Int { Int(PQbackendPID(handle)) }

    /// Runs one statement with its binds (PQexecParams), results in binary format, all rows copied into memory.
    ///
    /// Throws `.queryFailed` with the server's SQLSTATE, `.connectionLost` when the connection broke,
    /// `.encoding` for a value that could not be bound.
    @discardableResult
    public func query(_ query: SQLQuery) throws(PostgresError) -> PostgresRows {
        if let error = query.encodingError { throw error }
        let result = try query.withLibpqParameters { count, types, values, lengths, formats in
            PQexecParams(handle, query.sql, count, types, values, lengths, formats, 1)
        }
        return try consume(result)
    }

    /// Runs a script of one or more `;`-separated statements without binds (PQexec), e.g. a migration.
    ///
    /// Stops at the first failing statement; outside a transaction, the statements before it stay committed.
    public func execute(script: String) throws(PostgresError) {
        try consume(PQexec(handle, script))
    }

    // MARK: Internals shared by the extensions

    /// libpq's transaction status of the connection.
    var transactionStatus: PGTransactionStatusType { PQtransactionStatus(handle) }

    /// Reads whatever the server sent while the connection was idle; false if it turns out closed or broken.
    ///
    /// libpq keeps its socket non-blocking, so this does not wait. Two reads: the first may only consume the
    /// server's FATAL message, the second then sees the end of the stream.
    func checkAliveWhileIdle() -> Bool {
        guard PQstatus(handle) == CONNECTION_OK else { return false }
        guard PQconsumeInput(handle) == 1, PQconsumeInput(handle) == 1 else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Turns a PGresult into rows or an error, and clears it.
    @discardableResult
    func consume(_ result: OpaquePointer?) throws(PostgresError) -> PostgresRows {
        guard let result else { throw connectionError() }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            let affected = PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
            return PostgresRows(storage: ResultStorage(result: result), affectedRows: affected)
        case PGRES_EMPTY_QUERY:
            return PostgresRows(storage: .empty, affectedRows: 0)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            abandonCopy()
            throw PostgresError(code: .queryFailed, message: "COPY is not supported by this wrapper")
        default:
            throw makeError(result: result)
        }
    }

    /// An error from a failed PGresult: SQLSTATE, primary message and constraint name only.
    func makeError(result: OpaquePointer) -> PostgresError {
        let primary = Self.field(result, "M")
        let message = primary ?? Self.trimmed(PQresultErrorMessage(result)) ?? Self.trimmed(PQerrorMessage(handle)) ?? "query failed"
        let sqlState = Self.field(result, "C")
        let code: PostgresError.Code
        if PQstatus(handle) != CONNECTION_OK {
            code = .connectionLost
        } else if sqlState == "57014" {
            code = .timeout  // query_canceled: statement_timeout (this wrapper's own cancels are not reported)
        } else {
            code = .queryFailed
        }
        return PostgresError(
            code: code,
            message: primary == nil ? Self.scrub(message, password: password) : message,
            sqlState: sqlState,
            constraint: Self.field(result, "n")
        )
    }

    /// An error from the connection's last message (no PGresult).
    func connectionError() -> PostgresError {
        PostgresError(
            code: PQstatus(handle) == CONNECTION_OK ? .queryFailed : .connectionLost,
            message: Self.scrub(Self.trimmed(PQerrorMessage(handle)) ?? "connection error", password: password)
        )
    }

    /// Leaves the COPY sub-protocol the only simple way: by reconnecting (PQreset).
    func abandonCopy() {
        logger.warning("postgres COPY is not supported; resetting the connection")
        PQreset(handle)
    }

    /// Asks the server to cancel the statement in progress (PQcancel: a separate short connection).
    func cancelRunningStatement() {
        guard let cancel = PQgetCancel(handle) else { return }
        defer { PQfreeCancel(cancel) }
        var buffer = [CChar](repeating: 0, count: 256)
        if PQcancel(cancel, &buffer, Int32(buffer.count)) == 0 {
            logger.debug("postgres cancel request failed")
        }
    }

    /// A PGresult error field, copied; `code` is the PG_DIAG_* letter.
    static func field(_ result: OpaquePointer, _ code: Unicode.Scalar) -> String? {
        PQresultErrorField(result, Int32(code.value)).map { String(cString: $0) }
    }

    static func trimmed(_ pointer: UnsafePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        var text = String(cString: pointer)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text.isEmpty ? nil : text
    }

    /// Replaces the password, if it appears, by `***`.
    static func scrub(_ message: String, password: String?) -> String {
        guard let password, !password.isEmpty, message.contains(password) else { return message }
        return message.replacing(password, with: "***")
    }

    /// Parses the conninfo without connecting; returns its password (to scrub messages), or throws a
    /// `.connectionFailed` that does not echo the conninfo (libpq's parse errors quote pieces of it).
    static func validatedPassword(_ conninfo: String) throws(PostgresError) -> String? {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError(code: .connectionFailed, message: "invalid connection string (conninfo or URI)")
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "password", let value = option.pointee.val {
                return String(cString: value)
            }
            option += 1
        }
        return nil
    }
}

/// Holds the logger that libpq's notice receiver writes to.
private final class NoticeContext {
    let logger: Logger
    /// Set when the server warned that it stopped waiting for synchronous replication (a cancel or a
    /// termination during COMMIT): the transaction committed locally but may be on no standby.
    /// Touched only by the thread that uses the connection (libpq calls the receiver on it).
    var syncReplicationWaitCancelled = false
    init(logger: Logger) { self.logger = logger }
}

/// Logs a server NOTICE/WARNING at debug level: severity, SQLSTATE and primary message (no DETAIL, which may echo values).
private func noticeReceiver(_ argument: UnsafeMutableRawPointer?, _ result: OpaquePointer?) {
    guard let argument, let result else { return }
    let context = Unmanaged<NoticeContext>.fromOpaque(argument).takeUnretainedValue()
    if PostgresConnection.isSyncReplicationCancelWarning(PostgresConnection.field(result, "M")) {
        context.syncReplicationWaitCancelled = true
    }
    context.logger.debug(
        "postgres notice",
        metadata: [
            "postgres.severity": "\(PostgresConnection.field(result, "V") ?? "NOTICE")",
            "postgres.sqlstate": "\(PostgresConnection.field(result, "C") ?? "")",
            "postgres.message": "\(PostgresConnection.field(result, "M") ?? "")",
        ]
    )
}

/// Lends a NULL-terminated `const char * const *` array of C copies of `strings`.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    copies.append(nil)
    defer { for copy in copies { free(copy) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension PostgresConnection {
    /// Makes the connection fit for the next pool user: rolls back a transaction the last one left open.
    /// False when it should be discarded instead (broken, or mid-statement).
    func prepareForReuse() -> Bool {
        guard !isBroken else { return false }
        switch transactionStatus {
        case PQTRANS_IDLE:
            return true
        case PQTRANS_INTRANS, PQTRANS_INERROR:
            logger.warning("postgres connection returned to the pool inside a transaction; rolling back")
            rollbackIfOpen()
            return !isBroken && transactionStatus == PQTRANS_IDLE
        default:
            return false
        }
    }
}
