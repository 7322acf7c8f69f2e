/// A point in time with microsecond precision, as PostgreSQL's `timestamptz` stores it.
public struct PostgresTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Microseconds since 1970-01-01 00:00:00 UTC. `Int64.max` / `Int64.min` stand for `infinity` / `-infinity`.
    public var microsecondsSince1970: Int64

    /// Creates a timestamp from microseconds since 1970.
    public init(microsecondsSince1970: Int64) {
        self.microsecondsSince1970 = microsecondsSince1970
    }

    /// Creates a timestamp from seconds since 1970, rounded to the microsecond.
    public init(secondsSince1970: Double) {
        self.microsecondsSince1970 = Int64((secondsSince1970 * 1_000_000).rounded())
    }

    /// Seconds since 1970-01-01 00:00:00 UTC.
    public var secondsSince1970: Double { Double(microsecondsSince1970) / 1_000_000 }

    /// Orders by time.
    public static func < (lhs: PostgresTimestamp, rhs: PostgresTimestamp) -> Bool {
        lhs.microsecondsSince1970 < rhs.microsecondsSince1970
    }

    /// Microseconds since 1970, e.g. `1700000000000000µs`.
    public var description: String { "\(microsecondsSince1970)µs" }
}

extension PostgresTimestamp: PostgresEncodable, PostgresDecodable {
    /// `timestamptz`
    public static var postgresType: PostgresDataType { .timestamptz }

    /// Binary timestamptz: int8 microseconds since 2000-01-01.
    public func makeBind() throws(PostgresError) -> PostgresBind {
        let raw: Int64
        switch microsecondsSince1970 {
        case .max, .min: raw = microsecondsSince1970
        default:
            let (value, overflow) = microsecondsSince1970.subtractingReportingOverflow(BinaryCoding.postgresEpochOffsetMicroseconds)
            guard !overflow else { throw .encoding("timestamp out of range") }
            raw = value
        }
        return PostgresBind(type: .timestamptz, format: .binary, bytes: BinaryCoding.bytes(of: raw))
    }

    /// Decodes `timestamptz`, `timestamp` (taken as UTC) and `date` (midnight UTC).
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> PostgresTimestamp {
        switch type {
        case .timestamptz, .timestamp:
            let raw = try BinaryCoding.readExact(Int64.self, from: bytes, type: type)
            if raw == .max || raw == .min { return PostgresTimestamp(microsecondsSince1970: raw) }
            let (value, overflow) = raw.addingReportingOverflow(BinaryCoding.postgresEpochOffsetMicroseconds)
            guard !overflow else { throw .decoding("\(type) value out of range") }
            return PostgresTimestamp(microsecondsSince1970: value)
        case .date:
            let days = try BinaryCoding.readExact(Int32.self, from: bytes, type: type)
            if days == .max { return PostgresTimestamp(microsecondsSince1970: .max) }
            if days == .min { return PostgresTimestamp(microsecondsSince1970: .min) }
            return PostgresTimestamp(microsecondsSince1970: Int64(days) * 86_400_000_000 + BinaryCoding.postgresEpochOffsetMicroseconds)
        default:
            throw .decoding("cannot decode \(type) as a timestamp")
        }
    }
}

extension PostgresTimestamp: PostgresArrayElement {
    /// `timestamptz[]`
    public static var postgresArrayType: PostgresDataType { .timestamptzArray }
}
