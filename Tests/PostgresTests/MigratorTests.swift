import SMATestSupport
import Logging
import NIOPosix
import SMAPostgres
import Testing

/// Each test gets its own database, since the migrator owns the `schema_migrations` table.
@Suite struct MigratorTests {
    static let migrations = [
        Migration(version: 1, name: "create_devices", sql: "CREATE TABLE devices (id bigserial PRIMARY KEY, nuc_hash bytea NOT NULL UNIQUE)"),
        Migration(version: 2, name: "add_revoked", sql: """
            ALTER TABLE devices ADD COLUMN revoked boolean NOT NULL DEFAULT false;
            CREATE INDEX devices_revoked ON devices (revoked) WHERE revoked;
            """),
    ]

    func withDatabase(_ body: (TestDatabase) async throws -> Void) async throws {
        let database: TestDatabase = try await TestDatabase.create()
        do { try await body(database) } catch {
            await database.drop()
            throw error
        }
        await database.drop()
    }

    @Test func appliesOnceAndIsIdempotent() async throws {
        try await withDatabase { database in
            let connection = try database.connect()
            #expect(try Migrator.migrate(connection, migrations: [Self.migrations[0]], logger: testLogger) == [1])
            #expect(try Migrator.migrate(connection, migrations: Self.migrations.reversed(), logger: testLogger) == [2])
            #expect(try Migrator.migrate(connection, migrations: Self.migrations, logger: testLogger) == [])
            let recorded = try connection.query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
            #expect(try recorded.map { try $0.decode(0, as: Int.self) } == [1, 2])
            #expect(try recorded.map { try $0.decode(1, as: String.self) } == ["create_devices", "add_revoked"])
            #expect(try recorded[0].decode(2, as: PostgresTimestamp.self).secondsSince1970 > 1_700_000_000)
            try connection.query("INSERT INTO devices (nuc_hash) VALUES (\([UInt8]([1])))")
            #expect(try connection.query("SELECT revoked FROM devices").first?.decode(0, as: Bool.self) == false)
        }
    }

    @Test func refusesADatabaseWithANewerVersion() async throws {
        try await withDatabase { database in
            let connection = try database.connect()
            try Migrator.migrate(connection, migrations: Self.migrations, logger: testLogger)
            let error = #expect(throws: PostgresError.self) {
                try Migrator.migrate(connection, migrations: [Self.migrations[0]], logger: testLogger)
            }
            #expect(error?.code == .migration)
            #expect(error?.message.contains("2") == true)
        }
    }

    @Test func failedMigrationIsRolledBackAndNotRecorded() async throws {
        try await withDatabase { database in
            let connection = try database.connect()
            let broken = Migration(version: 3, name: "broken", sql: "CREATE TABLE half_done (id int); SELECT no_such_function()")
            let error = #expect(throws: PostgresError.self) {
                try Migrator.migrate(connection, migrations: Self.migrations + [broken], logger: testLogger)
            }
            #expect(error?.code == .migration)
            #expect(error?.sqlState == "42883")
            let versions = try connection.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(0, as: Int.self) }
            #expect(versions == [1, 2])
            #expect(try connection.query("SELECT to_regclass('half_done') IS NULL").first?.decode(0, as: Bool.self) == true)
        }
    }

    @Test func concurrentMigratorsApplyEachVersionOnce() async throws {
        try await withDatabase { database in
            let threadPool = NIOThreadPool(numberOfThreads: 3)
            threadPool.start()
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await threadPool.runIfActive {
                            try Migrator.migrate(database.connect(), migrations: Self.migrations, logger: testLogger)
                        }
                    }
                }
                var all: [Int] = []
                for try await versions in group { all += versions }
                return all
            }
            try await threadPool.shutdownGracefully()
            #expect(applied.sorted() == [1, 2])
        }
    }

    @Test func rejectsDuplicateVersions() async throws {
        try await withDatabase { database in
            let error = #expect(throws: PostgresError.self) {
                try Migrator.migrate(database.connect(), migrations: Self.migrations + [Self.migrations[0]], logger: testLogger)
            }
            #expect(error?.code == .migration)
        }
    }
}
