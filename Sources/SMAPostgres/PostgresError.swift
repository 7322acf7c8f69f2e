public import SMAErrors

/// An error from the PostgreSQL layer: a code, the server's SQLSTATE and primary message, never SQL text, bind values or credentials.
///
/// Two errors are equal when their codes are equal (as in swift-certificates' `X509.Error`).
public struct PostgresError: CodedError {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// A connection could not be established (bad conninfo, refused, authentication failed).
        public static let connectionFailed = Code("connectionFailed")
        /// An established connection broke while in use; `reset()` or the pool replaces it.
        public static let connectionLost = Code("connectionLost")
        /// The server rejected a statement; see `sqlState`.
        public static let queryFailed = Code("queryFailed")
        /// A value of a result could not be decoded as the requested Swift type.
        public static let decoding = Code("decoding")
        /// A Swift value could not be encoded as a bind parameter (e.g. a `UInt64` above `Int64.max`).
        public static let encoding = Code("encoding")
        /// The pool was closed (or its thread pool stopped) before a connection could be used.
        public static let poolClosed = Code("poolClosed")
        /// Waiting for a pooled connection took longer than the pool's checkout timeout.
        public static let timeout = Code("timeout")
        /// Applying the schema migrations failed or was refused.
        public static let migration = Code("migration")
        /// The server reported a COMMIT as done after it stopped waiting for its synchronous standbys: the
        /// transaction may exist on the primary only. Not to be acknowledged; it may be lost in a failover.
        public static let commitNotReplicated = Code("commitNotReplicated")

        /// The code's name, e.g. `queryFailed`.
        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// The server's SQLSTATE, e.g. "23505" (unique_violation) or "40001" (serialization_failure); nil for client-side errors.
    public var sqlState: String?
    /// The server's primary message (or libpq's message for client-side errors), without DETAIL, HINT or query text.
    public var message: String
    /// The name of the violated constraint, when the server reports one (PG_DIAG_CONSTRAINT_NAME).
    public var constraint: String?
    public var file: String
    public var line: Int

    /// Creates an error.
    public init(code: Code, message: String, sqlState: String? = nil, constraint: String? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.constraint = constraint
        self.file = file
        self.line = line
    }

    /// The server's (or libpq's) message with quoted input redacted, plus SQLSTATE and constraint.
    public var reason: String {
        var text = ""
        if let sqlState, sqlState.hasPrefix("22") || sqlState == "42601" {
            text += Self.redactingQuotes(message)
        } else {
            text += message
        }
        if let sqlState { text += " (sqlState \(sqlState)" + (constraint.map { ", constraint \($0)" } ?? "") + ")" }
        return text
    }

    /// True for SQLSTATE 23505 (unique_violation), e.g. to answer HTTP 409.
    public var isUniqueViolation: Bool { sqlState == "23505" }

    /// True when the server can no longer take this connection's writes: it is read-only (SQLSTATE 25006, a
    /// standby after a failover) or a commit was not confirmed by its synchronous standbys. A pooled connection
    /// that failed so is dropped, so that the next one finds the current primary.
    public var meansServerIsNoLongerPrimary: Bool { sqlState == "25006" || code == .commitNotReplicated }

    /// True for SQLSTATE 40001 (serialization_failure) and 40P01 (deadlock_detected): the transaction may be retried.
    public var isRetryableTransactionFailure: Bool { sqlState == "40001" || sqlState == "40P01" }

    /// A one-line description with code, message, SQLSTATE and constraint; never SQL, bind values or the conninfo.
    ///
    /// Quoted text is redacted where the server quotes input rather than names: data exceptions
    /// (SQLSTATE class 22, `invalid input syntax for type bigint: "…"`) and syntax errors
    /// (42601, `syntax error at or near "…"`, a piece of the SQL).
    public var description: String { "PostgresError.\(code): \(reason)" }

    static func redactingQuotes(_ message: String) -> String {
        var out = ""
        var inQuotes = false
        for character in message {
            if character == "\"" {
                if inQuotes { out += "…\"" } else { out.append("\"") }
                inQuotes.toggle()
            } else if !inQuotes {
                out.append(character)
            }
        }
        return out
    }

    /// The same error with the column named in its message (used by decoding).
    func forColumn(_ name: String) -> PostgresError {
        var copy = self
        copy.message = "column \"\(name)\": \(message)"
        return copy
    }

    static func decoding(_ message: String, file: String = #fileID, line: Int = #line) -> PostgresError {
        PostgresError(code: .decoding, message: message, file: file, line: line)
    }
    static func encoding(_ message: String, file: String = #fileID, line: Int = #line) -> PostgresError {
        PostgresError(code: .encoding, message: message, file: file, line: line)
    }
}
