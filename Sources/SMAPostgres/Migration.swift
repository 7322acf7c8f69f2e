/// One schema change: applied once, in version order, inside its own transaction.
public struct Migration: Sendable, Hashable {
    /// A positive number, unique among the migrations, that orders them (e.g. 1, 2, 3).
    public var version: Int
    /// A short name recorded with the version, e.g. `create_devices`.
    public var name: String
    /// The SQL script, one or more `;`-separated statements; no BEGIN/COMMIT and nothing that cannot run in a transaction (e.g. `CREATE INDEX CONCURRENTLY`).
    public var sql: String

    /// Creates a migration.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}
