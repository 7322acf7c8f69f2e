import SMATestSupport
import Logging
import SMAPostgres
import Testing

@Suite struct SQLQueryTests {
    @Test func everyInterpolatedValueBecomesABind() {
        let hash: [UInt8] = [1, 2, 3]
        let name = "x'; DROP TABLE devices; --"
        let query: SQLQuery = "SELECT id FROM devices WHERE nuc_hash = \(hash) AND name = \(name) AND n > \(42)"
        #expect(query.sql == "SELECT id FROM devices WHERE nuc_hash = $1 AND name = $2 AND n > $3")
        #expect(query.binds.map(\.type) == [.bytea, .text, .int8])
        #expect(query.binds[0].bytes == [1, 2, 3])
        #expect(query.binds[1].bytes == Array(name.utf8))
        #expect(!query.sql.contains("DROP"))
    }

    @Test func unsafeSQLIsInsertedVerbatim() {
        let table = "devices"
        let query: SQLQuery = "SELECT count(*) FROM \(unsafeSQL: table) WHERE id = \(Int32(7))"
        #expect(query.sql == "SELECT count(*) FROM devices WHERE id = $1")
        #expect(query.binds.map(\.type) == [.int4])
    }

    @Test func absentOptionalBindsTypedNull() {
        let missing: String? = nil
        let present: Int? = 5
        let query: SQLQuery = "VALUES (\(missing), \(present))"
        #expect(query.binds[0] == .null(.text))
        #expect(query.binds[1].type == .int8)
        #expect(query.binds[1].bytes == [0, 0, 0, 0, 0, 0, 0, 5])
    }

    @Test func descriptionShowsTypesButNotValues() {
        let secret = "s3cr3t-token"
        let query: SQLQuery = "SELECT \(secret), \(Optional<Int>.none)"
        #expect(!query.description.contains(secret))
        #expect(query.description.contains("text"))
        #expect(query.description.contains("NULL::int8"))
    }

    @Test func dataExceptionDescriptionRedactsQuotedInput() {
        let error = PostgresError(
            code: .queryFailed,
            message: "invalid input syntax for type bigint: \"hunter2\"",
            sqlState: "22P02"
        )
        #expect(!error.description.contains("hunter2"))
        #expect(error.description.contains("invalid input syntax"))
        #expect(error.message.contains("hunter2"))  // the raw message stays available to code
    }

    @Test func errorsAreEqualByCode() {
        #expect(PostgresError(code: .timeout, message: "a") == PostgresError(code: .timeout, message: "b"))
        #expect(PostgresError(code: .timeout, message: "a") != PostgresError(code: .decoding, message: "a"))
    }

    @Test func testDatabaseRewritesURIAndKeyValueConninfo() {
        #expect(
            TestDatabase.conninfo("postgresql://postgres:pw@127.0.0.1:55410/postgres?sslmode=disable", database: "d")
                == "postgresql://postgres:pw@127.0.0.1:55410/d?sslmode=disable"
        )
        #expect(TestDatabase.conninfo("postgres://u@h", database: "d") == "postgres://u@h/d")
        #expect(TestDatabase.conninfo("host=h port=1", database: "d") == "host=h port=1 dbname=d")
    }

    @Test func badConninfoFailsWithConnectionFailedAndNoPassword() {
        let password = "Pa55-word-that-must-not-leak"
        for conninfo in [
            "postgresql://postgres:\(password)@127.0.0.1:1/postgres?connect_timeout=2",
            "host=127.0.0.1 port=1 user=postgres password=\(password) connect_timeout=2",
            "host=127.0.0.1 port=1 password=\(password) bogus_option=\(password)",
            "postgresql://postgres:\(password)@127.0.0.1:notaport/postgres",
        ] {
            #expect {
                _ = try PostgresConnection(conninfo: conninfo, logger: testLogger)
            } throws: { error in
                guard let error = error as? PostgresError else { return false }
                return error.code == .connectionFailed
                    && !error.description.contains(password)
                    && !error.message.contains(password)
            }
        }
    }
}
