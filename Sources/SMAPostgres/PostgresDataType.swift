/// A PostgreSQL type, identified by its OID (pg_type.oid), with constants for the built-in types this module encodes or decodes.
public struct PostgresDataType: Sendable, Hashable, CustomStringConvertible {
    /// The type's OID; 0 means "unspecified": the server infers the type of a parameter from the statement.
    public var oid: UInt32

    /// Creates a type from its OID.
    public init(oid: UInt32) { self.oid = oid }

    /// Unspecified type: the server infers it (parameters only).
    public static let unspecified = PostgresDataType(oid: 0)
    /// `bool`
    public static let bool = PostgresDataType(oid: 16)
    /// `bytea`
    public static let bytea = PostgresDataType(oid: 17)
    /// `"char"` (single byte)
    public static let char = PostgresDataType(oid: 18)
    /// `name`
    public static let name = PostgresDataType(oid: 19)
    /// `int8` / `bigint`
    public static let int8 = PostgresDataType(oid: 20)
    /// `int2` / `smallint`
    public static let int2 = PostgresDataType(oid: 21)
    /// `int4` / `integer`
    public static let int4 = PostgresDataType(oid: 23)
    /// `text`
    public static let text = PostgresDataType(oid: 25)
    /// `oid`
    public static let oidType = PostgresDataType(oid: 26)
    /// `json`
    public static let json = PostgresDataType(oid: 114)
    /// `float4` / `real`
    public static let float4 = PostgresDataType(oid: 700)
    /// `float8` / `double precision`
    public static let float8 = PostgresDataType(oid: 701)
    /// `unknown` (untyped literal)
    public static let unknown = PostgresDataType(oid: 705)
    /// `bool[]`
    public static let boolArray = PostgresDataType(oid: 1000)
    /// `bytea[]`
    public static let byteaArray = PostgresDataType(oid: 1001)
    /// `int2[]`
    public static let int2Array = PostgresDataType(oid: 1005)
    /// `int4[]`
    public static let int4Array = PostgresDataType(oid: 1007)
    /// `text[]`
    public static let textArray = PostgresDataType(oid: 1009)
    /// `varchar[]`
    public static let varcharArray = PostgresDataType(oid: 1015)
    /// `int8[]`
    public static let int8Array = PostgresDataType(oid: 1016)
    /// `float8[]`
    public static let float8Array = PostgresDataType(oid: 1022)
    /// `bpchar` / `char(n)`
    public static let bpchar = PostgresDataType(oid: 1042)
    /// `varchar`
    public static let varchar = PostgresDataType(oid: 1043)
    /// `date`
    public static let date = PostgresDataType(oid: 1082)
    /// `timestamp` (without time zone)
    public static let timestamp = PostgresDataType(oid: 1114)
    /// `timestamptz`
    public static let timestamptz = PostgresDataType(oid: 1184)
    /// `timestamptz[]`
    public static let timestamptzArray = PostgresDataType(oid: 1185)
    /// `numeric`
    public static let numeric = PostgresDataType(oid: 1700)
    /// `uuid`
    public static let uuid = PostgresDataType(oid: 2950)
    /// `jsonb`
    public static let jsonb = PostgresDataType(oid: 3802)

    /// The SQL name for the built-in types above, else `oid <n>`.
    public var description: String {
        switch self {
        case .bool: "bool"
        case .bytea: "bytea"
        case .char: "\"char\""
        case .name: "name"
        case .int8: "int8"
        case .int2: "int2"
        case .int4: "int4"
        case .text: "text"
        case .oidType: "oid"
        case .json: "json"
        case .float4: "float4"
        case .float8: "float8"
        case .unknown: "unknown"
        case .boolArray: "bool[]"
        case .byteaArray: "bytea[]"
        case .int2Array: "int2[]"
        case .int4Array: "int4[]"
        case .textArray: "text[]"
        case .varcharArray: "varchar[]"
        case .int8Array: "int8[]"
        case .float8Array: "float8[]"
        case .bpchar: "bpchar"
        case .varchar: "varchar"
        case .date: "date"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .timestamptzArray: "timestamptz[]"
        case .numeric: "numeric"
        case .uuid: "uuid"
        case .jsonb: "jsonb"
        case .unspecified: "unspecified"
        default: "oid \(oid)"
        }
    }

    /// Text-like types decodable as `String`.
    var isTextLike: Bool {
        self == .text || self == .varchar || self == .bpchar || self == .name || self == .unknown || self == .char
            || self == .json
    }
}
