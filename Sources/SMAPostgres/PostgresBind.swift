/// One `$n` parameter: its bytes (nil for NULL), its type and whether the bytes are PostgreSQL's text or binary format.
public struct PostgresBind: Sendable, Hashable {
    /// The wire format of `bytes`.
    public enum Format: Sendable, Hashable {
        /// PostgreSQL's text representation (what `psql` prints).
        case text
        /// PostgreSQL's binary send/recv representation.
        case binary
    }

    /// The parameter's type; `.unspecified` lets the server infer it.
    public var type: PostgresDataType
    /// The format of `bytes`.
    public var format: Format
    /// The encoded value, or nil for SQL NULL.
    public var bytes: [UInt8]?

    /// Creates a bind from already-encoded bytes.
    public init(type: PostgresDataType, format: Format, bytes: [UInt8]?) {
        self.type = type
        self.format = format
        self.bytes = bytes
    }

    /// A NULL of the given type.
    public static func null(_ type: PostgresDataType) -> PostgresBind {
        PostgresBind(type: type, format: .binary, bytes: nil)
    }

    /// A value in text format whose type the server infers (e.g. `'2024-01-01'` for a timestamptz column, or a numeric).
    public static func untypedText(_ text: String) -> PostgresBind {
        PostgresBind(type: .unspecified, format: .text, bytes: Array(text.utf8))
    }

    /// A value in text format of an explicit type (e.g. `.numeric`, `"12.50"`).
    public static func text(_ text: String, as type: PostgresDataType) -> PostgresBind {
        PostgresBind(type: type, format: .text, bytes: Array(text.utf8))
    }
}
