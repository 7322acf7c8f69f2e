/// A Swift type a result value can be decoded as (`cell.decode(Int.self)`); `Optional` decodes NULL as nil.
public protocol PostgresDecodable: Sendable {
    /// Decodes a non-NULL value in binary format of the given type; throws `.decoding` on a type mismatch.
    static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> Self
    /// The value for SQL NULL; by default throws `.decoding` ("unexpected NULL").
    static func decodeNull() throws(PostgresError) -> Self
}

extension PostgresDecodable {
    /// Throws `.decoding`: NULL where a value is required.
    public static func decodeNull() throws(PostgresError) -> Self {
        throw .decoding("unexpected NULL decoding \(Self.self); decode \(Self.self)? to accept NULL")
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    /// Decodes the wrapped type.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> Wrapped? {
        try Wrapped.decode(from: bytes, type: type)
    }
    /// nil.
    public static func decodeNull() throws(PostgresError) -> Wrapped? { nil }
}

extension Int: PostgresDecodable {
    /// Decodes int2, int4, int8, oid, and an integral numeric that fits.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> Int {
        Int(try Int64.decode(from: bytes, type: type))
    }
}

extension Int64: PostgresDecodable {
    /// Decodes int2, int4, int8, oid, and an integral numeric that fits (e.g. `sum(bigint)`).
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> Int64 {
        if let value = try BinaryCoding.readInteger(from: bytes, type: type) { return value }
        if type == .numeric {
            let text = try BinaryCoding.numericString(from: bytes)
            if let value = Int64(text) { return value }
            throw .decoding("numeric value is not an integer in Int64's range")
        }
        throw .decoding("cannot decode \(type) as \(Self.self)")
    }
}

extension Int32: PostgresDecodable {
    /// Decodes int2, int4, and int8 within Int32's range.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> Int32 {
        let wide = try Int64.decode(from: bytes, type: type)
        guard let value = Int32(exactly: wide) else { throw .decoding("\(type) value out of Int32's range") }
        return value
    }
}

extension UInt64: PostgresDecodable {
    /// Decodes a non-negative int2, int4 or int8.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> UInt64 {
        let wide = try Int64.decode(from: bytes, type: type)
        guard let value = UInt64(exactly: wide) else { throw .decoding("negative \(type) value cannot be decoded as UInt64") }
        return value
    }
}

extension Bool: PostgresDecodable {
    /// Decodes bool.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> Bool {
        guard type == .bool else { throw .decoding("cannot decode \(type) as Bool") }
        return try BinaryCoding.readExact(UInt8.self, from: bytes, type: type) != 0
    }
}

extension Double: PostgresDecodable {
    /// Decodes float8, float4, numeric, and the integer types.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> Double {
        switch type {
        case .float8:
            return Double(bitPattern: try BinaryCoding.readExact(UInt64.self, from: bytes, type: type))
        case .float4:
            return Double(Float(bitPattern: try BinaryCoding.readExact(UInt32.self, from: bytes, type: type)))
        case .numeric:
            let text = try BinaryCoding.numericString(from: bytes)
            guard let value = Double(text) else { throw .decoding("numeric value \(text) is not a Double") }
            return value
        default:
            if let value = try BinaryCoding.readInteger(from: bytes, type: type) { return Double(value) }
            throw .decoding("cannot decode \(type) as Double")
        }
    }
}

extension String: PostgresDecodable {
    /// Decodes text, varchar, bpchar, name, "char", json, jsonb, uuid (canonical form) and numeric (decimal text).
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> String {
        if type.isTextLike { return String(decoding: bytes, as: UTF8.self) }
        switch type {
        case .jsonb:
            guard bytes.first == 1 else { throw .decoding("unsupported jsonb version") }
            return String(decoding: bytes.dropFirst(), as: UTF8.self)
        case .uuid:
            guard bytes.count == 16 else { throw .decoding("uuid value has \(bytes.count) bytes") }
            let hex = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            for (i, byte) in bytes.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
            return String(decoding: out, as: UTF8.self)
        case .numeric:
            return try BinaryCoding.numericString(from: bytes)
        default:
            throw .decoding("cannot decode \(type) as String")
        }
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    /// Decoded by the element type: `[UInt8]` from bytea, others from a one-dimensional binary array.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> [Element] {
        try Element.decodeArray(from: bytes, type: type)
    }
}
