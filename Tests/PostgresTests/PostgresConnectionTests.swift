import SMATestSupport
import Logging
import SMAPostgres
import Testing

/// Binds, decoding, errors, transactions and streaming against a real server (one database for the suite).
@Suite(.testDatabase) struct PostgresConnectionTests {
    let connection: PostgresConnection

    init() throws {
        connection = try TestDatabase.suite().connect()
    }

    @Test func byteaRoundTripsAllByteValuesAndEmpty() throws {
        let all = (0...255).map(UInt8.init)
        let row = try #require(connection.query("SELECT \(all), \([UInt8]()), length(\(all)), \(all) = decode(\(hexString(all)), 'hex')").first)
        #expect(try row.decode(0, as: [UInt8].self) == all)
        #expect(try row.decode(1, as: [UInt8].self) == [])
        #expect(!row[1].isNull)
        #expect(try row.decode(2, as: Int.self) == 256)
        #expect(try row.decode(3, as: Bool.self))

        try connection.execute(script: "CREATE TABLE blobs (id int PRIMARY KEY, data bytea)")
        try connection.query("INSERT INTO blobs VALUES (1, \(all)), (2, \([UInt8]())), (3, \(Optional<[UInt8]>.none))")
        let stored = try connection.query("SELECT data FROM blobs ORDER BY id")
        #expect(try stored[0].decode(0, as: [UInt8].self) == all)
        #expect(try stored[1].decode(0, as: [UInt8].self) == [])
        #expect(try stored[2].decode(0, as: [UInt8]?.self) == nil)
    }

    @Test func nullBindsDecodeAsNilAndFailNonOptionalDecodingNamingTheColumn() throws {
        let noInt: Int? = nil
        let noText: String? = nil
        let row = try #require(connection.query("SELECT \(noInt) AS maybe_int, \(noText) AS maybe_text, \(noInt) IS NULL AS was_null").first)
        #expect(row["maybe_int"].isNull)
        #expect(try row["maybe_int"].decode(Int?.self) == nil)
        #expect(try row["maybe_text"].decode(String?.self) == nil)
        #expect(try row.decode("was_null", as: Bool.self))
        let error = #expect(throws: PostgresError.self) { try row["maybe_int"].decode(Int.self) }
        #expect(error?.code == .decoding)
        #expect(error?.message.contains("maybe_int") == true)
    }

    @Test func scalarsRoundTrip() throws {
        let text = "héllo 'quoted' \"double\" \\ 🚀"
        let row = try #require(connection.query("""
            SELECT \(Int.max), \(Int.min), \(Int32(-7)), \(true), \(false), \(text), \(""), \(3.25), \(-0.0),
                   \(Double.infinity), \(UInt64(Int64.max)), 7::int2, 8::int4, 1.5::float4, 'abc'::varchar, 'n'::name,
                   12345678901234567890.0125::numeric, '{"a": 1}'::jsonb, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid
            """).first)
        #expect(try row.decode(0, as: Int.self) == Int.max)
        #expect(try row.decode(1, as: Int.self) == Int.min)
        #expect(try row.decode(2, as: Int32.self) == -7)
        #expect(try row.decode(3, as: Bool.self) == true)
        #expect(try row.decode(4, as: Bool.self) == false)
        #expect(try row.decode(5, as: String.self) == text)
        #expect(try row.decode(6, as: String.self) == "")
        #expect(try row.decode(7, as: Double.self) == 3.25)
        #expect(try row.decode(8, as: Double.self).sign == .minus)
        #expect(try row.decode(9, as: Double.self) == .infinity)
        #expect(try row.decode(10, as: UInt64.self) == UInt64(Int64.max))
        #expect(try row.decode(11, as: Int.self) == 7)
        #expect(try row.decode(12, as: Int.self) == 8)
        #expect(try row.decode(13, as: Double.self) == 1.5)
        #expect(try row.decode(14, as: String.self) == "abc")
        #expect(try row.decode(15, as: String.self) == "n")
        #expect(try row.decode(16, as: String.self) == "12345678901234567890.0125")
        #expect(try row.decode(17, as: String.self) == "{\"a\": 1}")
        #expect(try row.decode(18, as: String.self) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    }

    @Test func aggregatesReturningNumericDecodeAsIntegers() throws {
        let row = try #require(connection.query("SELECT sum(x), avg(x) FROM generate_series(1::int8, 1000) AS x").first)
        #expect(row[0].type == .numeric)
        #expect(try row.decode(0, as: Int.self) == 500_500)
        #expect(try row.decode(1, as: Double.self) == 500.5)
        let small = try #require(connection.query("SELECT 0.000123::numeric, -42.10::numeric, 0::numeric").first)
        #expect(try small.decode(0, as: String.self) == "0.000123")
        #expect(try small.decode(1, as: String.self) == "-42.10")
        #expect(try small.decode(2, as: Int.self) == 0)
    }

    @Test func timestamptzRoundTripsWithMicrosecondPrecision() throws {
        let instant = PostgresTimestamp(microsecondsSince1970: 1_700_000_000_123_456)
        let row = try #require(connection.query("""
            SELECT \(instant), \(instant) = 'epoch'::timestamptz + interval '1700000000.123456 seconds',
                   '1970-01-01 00:00:00+00'::timestamptz, '2000-01-01'::date, now(), 'infinity'::timestamptz
            """).first)
        #expect(try row.decode(0, as: PostgresTimestamp.self) == instant)
        #expect(try row.decode(1, as: Bool.self))
        #expect(try row.decode(2, as: PostgresTimestamp.self).microsecondsSince1970 == 0)
        #expect(try row.decode(3, as: PostgresTimestamp.self).secondsSince1970 == 946_684_800)
        let now = try row.decode(4, as: PostgresTimestamp.self).secondsSince1970
        #expect(now > 1_700_000_000 && now < 4_000_000_000)
        #expect(try row.decode(5, as: PostgresTimestamp.self).microsecondsSince1970 == .max)
        #expect(PostgresTimestamp(secondsSince1970: 1.5).microsecondsSince1970 == 1_500_000)
    }

    @Test func arraysRoundTrip() throws {
        let ints = [1, -2, Int.max, 0]
        let strings = ["plain", "with,comma", "with \"quotes\"", "{braces}", "NULL", "", "back\\slash"]
        let row = try #require(connection.query("""
            SELECT \(ints), \([Int]()), '{1,2,3}'::int4[], '{4,5}'::int2[], \(strings), \(ints)::int8[] = ARRAY[1, -2, \(Int.max), 0]::int8[],
                   cardinality(\(strings)), ARRAY['a', 'b']::varchar[], ARRAY[1, NULL]::int4[]
            """).first)
        #expect(try row.decode(0, as: [Int].self) == ints)
        #expect(try row.decode(1, as: [Int].self) == [])
        #expect(try row.decode(2, as: [Int].self) == [1, 2, 3])
        #expect(try row.decode(3, as: [Int].self) == [4, 5])
        #expect(try row.decode(4, as: [String].self) == strings)
        #expect(try row.decode(5, as: Bool.self))
        #expect(try row.decode(6, as: Int.self) == strings.count)
        #expect(try row.decode(7, as: [String].self) == ["a", "b"])
        #expect(throws: PostgresError.self) { try row.decode(8, as: [Int].self) }  // NULL element
        #expect(try connection.query("SELECT 3 = ANY(\(ints + [3]))").first?.decode(0, as: Bool.self) == true)
    }

    /// `[[UInt8]]` binds as `bytea[]` in PostgreSQL's binary array format (bulk inserts of hashes and signatures).
    @Test func byteaArraysRoundTripThroughUnnest() throws {
        let values: [[UInt8]] = [[], [0], Array(0...255), [UInt8](repeating: 0xff, count: 1000)]
        let rows = try connection.query("SELECT b, length(b), pg_typeof(\(values))::text FROM unnest(\(values)) WITH ORDINALITY AS x(b, n) ORDER BY n")
        #expect(try rows.map { try $0.decode(0, as: [UInt8].self) } == values)
        #expect(try rows.map { try $0.decode(1, as: Int.self) } == values.map(\.count))
        #expect(try rows.first?.decode(2, as: String.self) == "bytea[]")
        #expect(try row0(connection.query("SELECT \([[UInt8]]())::bytea[] = '{}'::bytea[]")).decode(0, as: Bool.self))
        #expect(try connection.query("SELECT \(values)").first?.decode(0, as: [[UInt8]].self) == values)
    }

    private func row0(_ rows: PostgresRows) throws -> PostgresRow { try #require(rows.first) }

    @Test func typeMismatchThrowsDecodingNamingTheColumn() throws {
        let row = try #require(connection.query("SELECT 'text'::text AS label, 1::int8 AS n").first)
        let error = #expect(throws: PostgresError.self) { try row["label"].decode(Int.self) }
        #expect(error?.code == .decoding)
        #expect(error?.description.contains("label") == true)
        #expect(throws: PostgresError.self) { try row["n"].decode(Bool.self) }
        #expect(throws: PostgresError.self) { try row["no_such_column"].decode(Int.self) }
        #expect(throws: PostgresError.self) { try row[5].decode(Int.self) }
    }

    @Test func uniqueViolationReportsSQLStateAndConstraintWithoutLeakingSQLOrValues() throws {
        try connection.execute(script: "CREATE TABLE devices (id serial PRIMARY KEY, nuc_hash bytea NOT NULL CONSTRAINT devices_nuc_hash_key UNIQUE)")
        let hash: [UInt8] = Array("SECRETHASHVALUE".utf8)
        try connection.query("INSERT INTO devices (nuc_hash) VALUES (\(hash))")
        let error = #expect(throws: PostgresError.self) {
            try connection.query("INSERT INTO devices (nuc_hash) VALUES (\(hash))")
        }
        let unwrapped = try #require(error)
        #expect(unwrapped.code == .queryFailed)
        #expect(unwrapped.sqlState == "23505")
        #expect(unwrapped.isUniqueViolation)
        #expect(unwrapped.constraint == "devices_nuc_hash_key")
        #expect(!unwrapped.description.contains("INSERT"))
        #expect(!unwrapped.description.contains("SECRETHASHVALUE"))
        #expect(!unwrapped.description.contains("5345435245"))  // hex of the value, as DETAIL would show it
        #expect(!unwrapped.message.contains("5345435245"))
        #expect(unwrapped.description.contains("devices_nuc_hash_key"))
        // The connection is still usable.
        #expect(try connection.query("SELECT count(*) FROM devices").first?.decode(0, as: Int.self) == 1)
    }

    @Test func syntaxErrorDoesNotEchoTheStatement() throws {
        let error = #expect(throws: PostgresError.self) {
            try connection.query("SELEKT \("secret-value")")
        }
        #expect(error?.sqlState == "42601")
        #expect(error?.description.contains("SELEKT") == false)
    }

    @Test func affectedRowsCountsChangedRows() throws {
        try connection.execute(script: "CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)")
        #expect(try connection.query("INSERT INTO counters (id) SELECT generate_series(1, 5)").affectedRows == 5)
        #expect(try connection.query("UPDATE counters SET n = n + 1 WHERE id <= \(3)").affectedRows == 3)
        let rows = try connection.query("SELECT id FROM counters ORDER BY id")
        #expect(rows.count == 5)
        #expect(rows.affectedRows == 5)
        #expect(try rows.map { try $0.decode(0, as: Int.self) } == [1, 2, 3, 4, 5])
    }

    @Test func transactionRollsBackWhenBodyThrows() throws {
        struct Boom: Error {}
        try connection.execute(script: "CREATE TABLE ledger (id int PRIMARY KEY)")
        #expect(throws: Boom.self) {
            try connection.transaction { connection in
                try connection.query("INSERT INTO ledger VALUES (\(1))")
                throw Boom()
            }
        }
        #expect(try connection.query("SELECT count(*) FROM ledger").first?.decode(0, as: Int.self) == 0)

        let value = try connection.transaction(isolation: .serializable) { connection in
            try connection.query("INSERT INTO ledger VALUES (\(2))")
            return 42
        }
        #expect(value == 42)
        #expect(try connection.query("SELECT count(*) FROM ledger").first?.decode(0, as: Int.self) == 1)
    }

    @Test func transactionWhoseStatementFailedDoesNotReportACommit() throws {
        try connection.execute(script: "CREATE TABLE once (id int PRIMARY KEY)")
        let error = #expect(throws: PostgresError.self) {
            try connection.transaction { connection in
                try connection.query("INSERT INTO once VALUES (1)")
                _ = try? connection.query("INSERT INTO once VALUES (1)")  // swallowed failure aborts the transaction
            }
        }
        #expect(error?.sqlState == "25P02")
        #expect(try connection.query("SELECT count(*) FROM once").first?.decode(0, as: Int.self) == 0)
        #expect(throws: PostgresError.self) {
            try connection.transaction { connection in try connection.transaction { _ in } }
        }
    }

    @Test func forEachRowStreamsOneHundredThousandRows() throws {
        var sum = 0
        var count = 0
        try connection.forEachRow("SELECT x, x::text FROM generate_series(1::int8, \(100_000)) AS x") { row in
            let x = try row.decode(0, as: Int.self)
            sum += x
            count += 1
            if x == 99_999 { #expect(try row.decode(1, as: String.self) == "99999") }
        }
        #expect(count == 100_000)
        #expect(sum == 100_000 * 100_001 / 2)
    }

    @Test func forEachRowStopsWhenBodyThrowsAndLeavesTheConnectionUsable() throws {
        struct Enough: Error {}
        var seen = 0
        #expect(throws: Enough.self) {
            try connection.forEachRow("SELECT x FROM generate_series(1, 10000000) AS x") { _ in
                seen += 1
                if seen == 10 { throw Enough() }
            }
        }
        #expect(seen == 10)
        #expect(try connection.query("SELECT 1").first?.decode(0, as: Int.self) == 1)
        let error = #expect(throws: PostgresError.self) {
            try connection.forEachRow("SELECT 1 / (x - 5) FROM generate_series(1, 10) AS x") { _ in }
        }
        #expect(error?.sqlState == "22012")
        #expect(try connection.query("SELECT 2").first?.decode(0, as: Int.self) == 2)
    }

    @Test func executeRunsAScriptOfSeveralStatements() throws {
        try connection.execute(script: """
            CREATE TABLE script_a (id int);
            INSERT INTO script_a VALUES (1), (2);
            CREATE INDEX script_a_id ON script_a (id);
            """)
        #expect(try connection.query("SELECT count(*) FROM script_a").first?.decode(0, as: Int.self) == 2)
        try connection.execute(script: "")
    }

    @Test func unencodableValueFailsBeforeReachingTheServer() throws {
        let error = #expect(throws: PostgresError.self) {
            try connection.query("SELECT \(UInt64.max)")
        }
        #expect(error?.code == .encoding)
        let nul = #expect(throws: PostgresError.self) {
            try connection.query(SQLQuery(unsafeSQL: "SELECT $1::text", binds: [.untypedText("a\u{0}b")]))
        }
        #expect(nul?.code == .encoding)
        #expect(try connection.query(SQLQuery(unsafeSQL: "SELECT $1::int + 1", binds: [.untypedText("41")])).first?.decode(0, as: Int.self) == 42)
    }

    @Test func statementTimeoutSurfacesAsTimeout() throws {
        let own = try TestDatabase.suite().connect()
        try own.execute(script: "SET statement_timeout = '50ms'")
        let error = #expect(throws: PostgresError.self) { try own.query("SELECT pg_sleep(5)") }
        #expect(error?.code == .timeout)
        #expect(error?.sqlState == "57014")
    }

    @Test func noticesGoToTheLoggerAtDebugLevel() throws {
        let capture = LogCapture()
        let own = try TestDatabase.suite().connect(logger: capture.logger())
        try own.execute(script: "DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
        let notice = try #require(capture.recorded.first { $0.message == "postgres notice" })
        #expect(notice.level == .debug)
        #expect(notice.metadata["postgres.message"] == "hello 42")
        #expect(notice.metadata["postgres.severity"] == "NOTICE")
    }

    @Test func brokenConnectionIsReportedAndResetReconnects() throws {
        let own = try TestDatabase.suite().connect()
        let pid = own.backendPID
        let admin = try TestDatabase.suite().connect()
        try admin.query("SELECT pg_terminate_backend(\(Int32(pid)))")
        let error = #expect(throws: PostgresError.self) {
            // The first statement after the kill may or may not see it; the second must.
            try own.query("SELECT 1")
            try own.query("SELECT 1")
        }
        #expect(error?.code == .connectionLost)
        #expect(own.isBroken)
        own.reset()
        #expect(!own.isBroken)
        #expect(own.backendPID != pid)
        #expect(try own.query("SELECT 1").first?.decode(0, as: Int.self) == 1)
    }
}

private func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}
