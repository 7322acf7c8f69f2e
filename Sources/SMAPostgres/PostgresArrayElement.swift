/// An element type `T` for which `[T]` binds and decodes: as a one-dimensional PostgreSQL array, or, for `UInt8`, as `bytea`.
public protocol PostgresArrayElement: Sendable {
    /// The PostgreSQL type of `[Self]` (`int8[]`, `text[]`, or `bytea` for `UInt8`).
    static var postgresArrayType: PostgresDataType { get }
    /// Encodes `[Self]`.
    static func makeArrayBind(_ elements: [Self]) throws(PostgresError) -> PostgresBind
    /// Decodes `[Self]` from a non-NULL value.
    static func decodeArray(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> [Self]
}

extension PostgresArrayElement where Self: PostgresEncodable & PostgresDecodable {
    /// A one-dimensional binary array of the elements' binary encodings.
    public static func makeArrayBind(_ elements: [Self]) throws(PostgresError) -> PostgresBind {
        var encoded: [[UInt8]] = []
        encoded.reserveCapacity(elements.count)
        for element in elements {
            let bind = try element.makeBind()
            guard let bytes = bind.bytes, bind.format == .binary else { throw .encoding("array element has no binary encoding") }
            encoded.append(bytes)
        }
        let payload = try BinaryCoding.encodeArray(elementType: Self.postgresType, elements: encoded)
        return PostgresBind(type: postgresArrayType, format: .binary, bytes: payload)
    }

    /// Decodes a one-dimensional binary array; a NULL element throws unless `Self` accepts NULL.
    public static func decodeArray(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> [Self] {
        try BinaryCoding.decodeArray(bytes, type: type) { (element, elementType) throws(PostgresError) -> Self in
            guard let element else { return try Self.decodeNull() }
            return try Self.decode(from: element, type: elementType)
        }
    }
}

extension Int: PostgresArrayElement {
    /// `int8[]`; decodes from int2[], int4[] and int8[].
    public static var postgresArrayType: PostgresDataType { .int8Array }
}

extension Int64: PostgresArrayElement {
    /// `int8[]`
    public static var postgresArrayType: PostgresDataType { .int8Array }
}

extension Int32: PostgresArrayElement {
    /// `int4[]`
    public static var postgresArrayType: PostgresDataType { .int4Array }
}

extension Bool: PostgresArrayElement {
    /// `bool[]`
    public static var postgresArrayType: PostgresDataType { .boolArray }
}

extension Double: PostgresArrayElement {
    /// `float8[]`
    public static var postgresArrayType: PostgresDataType { .float8Array }
}

extension String: PostgresArrayElement {
    /// `text[]`; decodes from text[], varchar[] and name[].
    public static var postgresArrayType: PostgresDataType { .textArray }
}

extension UInt8: PostgresArrayElement {
    /// `bytea`: `[UInt8]` is bound and decoded as a byte string, not as an array.
    public static var postgresArrayType: PostgresDataType { .bytea }

    /// Binary bytea: the bytes as they are.
    public static func makeArrayBind(_ elements: [UInt8]) throws(PostgresError) -> PostgresBind {
        PostgresBind(type: .bytea, format: .binary, bytes: elements)
    }

    /// Decodes bytea.
    public static func decodeArray(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> [UInt8] {
        guard type == .bytea else { throw .decoding("cannot decode \(type) as [UInt8] (bytea)") }
        return Array(bytes)
    }
}

extension Array: PostgresArrayElement where Element == UInt8 {
    /// `bytea[]`: `[[UInt8]]` binds as PostgreSQL's binary array of byte strings (bulk inserts of hashes,
    /// signatures and payloads without a hex round trip).
    public static var postgresArrayType: PostgresDataType { .byteaArray }
}
