/// A Swift value that can be bound as a query parameter (interpolated into an `SQLQuery`).
public protocol PostgresEncodable: Sendable {
    /// The PostgreSQL type of the parameter; also the type of its NULL when the value is an absent optional.
    static var postgresType: PostgresDataType { get }
    /// Encodes the value; throws `.encoding` when it has no PostgreSQL representation.
    func makeBind() throws(PostgresError) -> PostgresBind
}

extension Int: PostgresEncodable {
    /// `int8`
    public static var postgresType: PostgresDataType { .int8 }
    /// Binary int8.
    public func makeBind() throws(PostgresError) -> PostgresBind {
        PostgresBind(type: .int8, format: .binary, bytes: BinaryCoding.bytes(of: Int64(self)))
    }
}

extension Int64: PostgresEncodable {
    /// `int8`
    public static var postgresType: PostgresDataType { .int8 }
    /// Binary int8.
    public func makeBind() throws(PostgresError) -> PostgresBind {
        PostgresBind(type: .int8, format: .binary, bytes: BinaryCoding.bytes(of: self))
    }
}

extension Int32: PostgresEncodable {
    /// `int4`
    public static var postgresType: PostgresDataType { .int4 }
    /// Binary int4.
    public func makeBind() throws(PostgresError) -> PostgresBind {
        PostgresBind(type: .int4, format: .binary, bytes: BinaryCoding.bytes(of: self))
    }
}

extension UInt64: PostgresEncodable {
    /// `int8` (PostgreSQL has no unsigned types).
    public static var postgresType: PostgresDataType { .int8 }
    /// Binary int8; throws `.encoding` above `Int64.max`.
    public func makeBind() throws(PostgresError) -> PostgresBind {
        guard let value = Int64(exactly: self) else { throw .encoding("UInt64 value above Int64.max cannot be bound as int8") }
        return PostgresBind(type: .int8, format: .binary, bytes: BinaryCoding.bytes(of: value))
    }
}

extension Bool: PostgresEncodable {
    /// `bool`
    public static var postgresType: PostgresDataType { .bool }
    /// Binary bool (one byte).
    public func makeBind() throws(PostgresError) -> PostgresBind {
        PostgresBind(type: .bool, format: .binary, bytes: [self ? 1 : 0])
    }
}

extension Double: PostgresEncodable {
    /// `float8`
    public static var postgresType: PostgresDataType { .float8 }
    /// Binary float8 (IEEE 754 bits, big-endian).
    public func makeBind() throws(PostgresError) -> PostgresBind {
        PostgresBind(type: .float8, format: .binary, bytes: BinaryCoding.bytes(of: bitPattern))
    }
}

extension String: PostgresEncodable {
    /// `text`
    public static var postgresType: PostgresDataType { .text }
    /// Binary text (its UTF-8 bytes). A NUL character is rejected by the server.
    public func makeBind() throws(PostgresError) -> PostgresBind {
        PostgresBind(type: .text, format: .binary, bytes: Array(utf8))
    }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    /// The wrapped type.
    public static var postgresType: PostgresDataType { Wrapped.postgresType }
    /// The wrapped value's bind, or a NULL of the wrapped type.
    public func makeBind() throws(PostgresError) -> PostgresBind {
        switch self {
        case .some(let value): try value.makeBind()
        case .none: .null(Wrapped.postgresType)
        }
    }
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    /// `bytea` for `[UInt8]`, else the element's array type (`int8[]`, `text[]`, …).
    public static var postgresType: PostgresDataType { Element.postgresArrayType }
    /// Encoded by the element type: `[UInt8]` as bytea, others as a one-dimensional binary array.
    public func makeBind() throws(PostgresError) -> PostgresBind {
        try Element.makeArrayBind(self)
    }
}
