/// A query whose interpolated values all become `$n` binds; raw SQL only via `unsafeSQL:`.
///
/// ```swift
/// let rows = try connection.query("SELECT id FROM devices WHERE nuc_hash = \(hash) AND revoked = \(false)")
/// // sql: "SELECT id FROM devices WHERE nuc_hash = $1 AND revoked = $2", binds: [bytea, bool]
/// try connection.query("SELECT * FROM \(unsafeSQL: tableName)")   // trusted identifiers only
/// ```
public struct SQLQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The SQL text with `$1…$n` placeholders.
    public var sql: String
    /// The parameter values, `binds[0]` is `$1`.
    public var binds: [PostgresBind]
    /// The first value that could not be encoded; thrown when the query is run.
    var encodingError: PostgresError?

    /// Creates a query from trusted SQL text and explicit binds.
    public init(unsafeSQL sql: String, binds: [PostgresBind] = []) {
        self.sql = sql
        self.binds = binds
    }

    /// Creates a query from a literal without interpolations.
    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    /// Creates a query from an interpolated literal.
    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
        self.encodingError = stringInterpolation.encodingError
    }

    /// The SQL text and the types of the binds, never their values (safe to log).
    public var description: String {
        "\(sql) [\(binds.map { $0.bytes == nil ? "NULL::\($0.type)" : "\($0.type)" }.joined(separator: ", "))]"
    }

    /// Builds a query from literal SQL and interpolated values; every value becomes a bind.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var binds: [PostgresBind]
        var encodingError: PostgresError?

        /// Reserves space for the literal text and the binds.
        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds = []
            binds.reserveCapacity(interpolationCount)
        }

        /// Appends literal SQL.
        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Appends `$n` and binds the value (optionals bind a typed NULL).
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            do throws(PostgresError) {
                appendInterpolation(try value.makeBind())
            } catch {
                if encodingError == nil { encodingError = error }
                appendInterpolation(PostgresBind.null(Value.postgresType))
            }
        }

        /// Appends `$n` and binds the value, or a NULL of its type when absent.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            switch value {
            case .some(let value): appendInterpolation(value)
            case .none: appendInterpolation(PostgresBind.null(Value.postgresType))
            }
        }

        /// Appends `$n` and binds an already-encoded value.
        public mutating func appendInterpolation(_ bind: PostgresBind) {
            binds.append(bind)
            sql += "$\(binds.count)"
        }

        /// Appends raw SQL text. Never pass untrusted input: it is not escaped.
        public mutating func appendInterpolation(unsafeSQL text: String) {
            sql += text
        }
    }
}
