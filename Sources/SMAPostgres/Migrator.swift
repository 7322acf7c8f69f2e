public import Logging

/// Applies schema migrations and records them in `schema_migrations`.
public enum Migrator {
    /// The `pg_advisory_xact_lock` key that serializes migrators ("SMA_MIGR" in ASCII).
    static let lockKey: Int64 = 0x534D_415F_4D49_4752

    /// Applies the pending migrations in order, each in its own transaction, recorded in table schema_migrations(version int primary key, name text, applied_at timestamptz default now()); takes pg_advisory_xact_lock so two nodes starting together do not race; returns the versions applied.
    ///
    /// Refuses (`.migration`) if the database records a version this code does not know, e.g. one newer
    /// than the newest migration given, so an old build never runs against a newer schema.
    /// - Parameters:
    ///   - connection: A connection outside any transaction.
    ///   - migrations: All migrations the code knows, in any order; versions must be positive and unique.
    ///   - logger: Logs each applied migration at info level.
    /// - Returns: The versions applied by this call, ascending; empty when the schema was current.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection, migrations: [Migration], logger: Logger) throws -> [Int] {
        let sorted = migrations.sorted { $0.version < $1.version }
        let known = Set(sorted.map(\.version))
        guard known.count == sorted.count else {
            throw PostgresError(code: .migration, message: "two migrations have the same version")
        }
        if let bad = sorted.first(where: { $0.version <= 0 || $0.version > Int(Int32.max) }) {
            throw PostgresError(code: .migration, message: "migration version \(bad.version) is out of range")
        }
        let newestKnown = sorted.last?.version ?? 0

        try connection.transaction { connection in
            try lock(connection)
            try connection.execute(script: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version int PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let recorded = try appliedVersions(connection)
            if let unknown = recorded.subtracting(known).max() {
                let relation = unknown > newestKnown ? "newer than the newest this build knows (\(newestKnown))" : "not one this build knows"
                throw PostgresError(
                    code: .migration,
                    message: "the database has schema version \(unknown), \(relation); refusing to run against it"
                )
            }
        }

        var applied: [Int] = []
        for migration in sorted {
            let didApply = try connection.transaction { connection -> Bool in
                try lock(connection)
                // Read again under the lock: another node may have applied it meanwhile.
                guard !(try appliedVersions(connection).contains(migration.version)) else { return false }
                do throws(PostgresError) {
                    try connection.execute(script: migration.sql)
                } catch {
                    throw PostgresError(
                        code: .migration,
                        message: "migration \(migration.version) (\(migration.name)) failed: \(error.message)",
                        sqlState: error.sqlState,
                        constraint: error.constraint
                    )
                }
                try connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(Int32(migration.version)), \(migration.name))"
                )
                return true
            }
            if didApply {
                applied.append(migration.version)
                logger.info(
                    "applied schema migration",
                    metadata: ["postgres.migration.version": "\(migration.version)", "postgres.migration.name": "\(migration.name)"]
                )
            }
        }
        return applied
    }

    private static func lock(_ connection: PostgresConnection) throws(PostgresError) {
        try connection.query("SELECT pg_advisory_xact_lock(\(lockKey))")
    }

    private static func appliedVersions(_ connection: PostgresConnection) throws(PostgresError) -> Set<Int> {
        var versions = Set<Int>()
        for row in try connection.query("SELECT version FROM schema_migrations") {
            versions.insert(try row.decode(0, as: Int.self))
        }
        return versions
    }
}
