package import Core
package import NodeServices
package import SMAPostgres
package import Logging
import Crypto
import Foundation
import NIOConcurrencyHelpers
import X509

/// The node's PostgreSQL database behind the storage ports (`LogStore`, `LeaseStore`, `LogCommitter`,
/// `RegistryQueries`) and the start-up reads. Every call runs its blocking libpq work on the pool's thread pool,
/// never on the cooperative pool; errors become `NodeError`s that name the problem and carry no SQL.
package final class SQLStore: NodeStore {
    package let pool: PostgresPool
    private let logger: Logger
    /// One replicated apply at a time (held on a thread-pool thread around the whole transaction).
    private let applyLock = NIOLock()

    package init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    // MARK: LogStore

    package func entries(after: Int64, limit: Int) async throws -> [LogEntry] {
        try await pool.withConnection { c in try Store.entries(c, after: after, limit: limit) }
    }

    package func applyReplicated(_ batch: [(entry: LogEntry, change: LogChange)]) async throws -> ReplicatedBatch {
        let lock = applyLock
        return try await pool.withConnection { c in try lock.withLock { try Store.applyReplicated(c, batch) } }
    }

    // MARK: LeaseStore

    package func acquireLease(holder: String, ttlSeconds: Double) async throws -> Int64? {
        try await pool.withConnection { c in try Store.acquireLease(c, holder: holder, ttlSeconds: ttlSeconds) }
    }

    package func lease() async throws -> LeaseInfo {
        try await pool.withConnection { c in try Store.lease(c) }
    }

    package func releaseLease(holder: String) async throws {
        try await pool.withConnection { c in try Store.releaseLease(c, holder: holder) }
    }

    // MARK: LogCommitter

    package func commit(_ changes: [LogChange], signer: LogSigner, fence: LeaseStateMachine.Fence?, audit: AuditActor?,
                        followUp: (@Sendable (any CommitReads) throws -> [LogChange])?) async throws -> [(entry: LogEntry, change: LogChange)] {
        do {
            return try await pool.withConnection { c in
                try c.transaction { c in
                    var entries: [LogEntry] = []
                    var all = changes
                    if !changes.isEmpty {
                        entries = try Store.append(c, changes, signer: signer, fence: fence, audit: audit)
                    }
                    if let followUp {
                        let more = try followUp(Store.TransactionReads(c: c))
                        if !more.isEmpty {
                            entries += try Store.append(c, more, signer: signer, fence: fence, audit: audit)
                            all += more
                        }
                    }
                    return Array(zip(entries, all)).map { (entry: $0.0, change: $0.1) }
                }
            }
        } catch let e as PostgresError where e.isUniqueViolation {
            switch e.constraint {
            case "devices_pkey": throw NodeError(.conflict, "a device with this serial is already provisioned", field: "device_serial")
            default: throw NodeError(.conflict, "the change conflicts with existing data")
            }
        } catch let e as Store.AuditFailure {
            logger.error("audit record could not be stored; write refused", metadata: ["error": "\(e.underlying)"])
            throw NodeError(.unavailable, "the audit record could not be stored; the write was not committed")
        } catch let e as PostgresError {
            logger.error("write transaction failed", metadata: ["error": "\(e)"])
            throw NodeError(.unavailable, "the authoritative database is unavailable; the write was not committed")
        }
    }

    // MARK: RegistryQueries

    package func device(serial: String) async throws -> DeviceDetails? {
        try await pool.withConnection { c in try Store.device(c, serial: serial) }
    }

    package func devices(family: String?, after: String?, limit: Int) async throws -> [DeviceDetails] {
        try await pool.withConnection { c in try Store.devices(c, family: family, after: after, limit: limit) }
    }

    package func devices(holdingTable table: Int, after: String?, limit: Int) async throws -> [DeviceDetails]? {
        try await pool.withConnection { c -> [DeviceDetails]? in
            guard try Store.keyTableExists(c, id: table) else { return nil }
            return try Store.devices(c, holdingTable: table, after: after, limit: limit)
        }
    }

    package func keyTables() async throws -> [KeyTableInfo] {
        try await pool.withConnection { c in try Store.keyTableInfos(c) }
    }

    package func audit(after: Int64?, limit: Int, newestFirst: Bool) async throws -> [AuditRecord] {
        try await pool.withConnection { c in try Store.audit(c, after: after, limit: limit, newestFirst: newestFirst) }
    }

    package func stats() async throws -> DatabaseStats {
        try await pool.withConnection { c in try Store.stats(c) }
    }

    package func apiKeys() async throws -> [APIKeyRecord] {
        try await pool.withConnection { c in try Store.apiKeys(c) }
    }

    package func revocationSnapshot() async throws -> RevocationSnapshot {
        try await pool.withConnection { c in try Store.revocationSnapshot(c) }
    }

    package func recentRevocations(limit: Int) async throws -> [Revocation] {
        try await pool.withConnection { c in try Store.recentRevocations(c, limit: limit) }
    }

    // MARK: start-up

    /// Migrates the schema; makes an empty database a replica when `logVerificationKey` is given; checks the KEK
    /// and that the database's log is signed with `logVerificationKey`.
    package func prepare(kek: KeyEncryptionKey, logVerificationKey: [UInt8]?) async throws {
        let logger = self.logger
        try await pool.withConnection { c in
            _ = try Migrator.migrate(c, migrations: Schema.migrations, logger: logger)
            if try !Store.isInitialized(c), let key = logVerificationKey {
                // A new region's database: it becomes a replica and fills from the log.
                try Store.prepareReplica(c, kek: kek, logVerificationKey: key)
                logger.notice("empty database prepared as a replica; the log will be pulled from peers")
            }
            try Store.checkKEK(c, kek)
            try NUCDigestMigration.run(c, kek: kek, logger: logger) { logger.notice("\($0)") }
            if try c.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").first?.decode(0, as: Bool.self) == true {
                logger.warning("connected to PostgreSQL as a superuser; give the node a role that owns only its database (cluster/up creates sma_node)")
            }
            if let key = logVerificationKey, let stored = try Store.meta(c, Store.MetaKey.logPublicKey), stored != key {
                throw NodeError(.wrongKEK, "log_verification_key does not match the key this database's log is signed with")
            }
        }
    }

    /// The sealed key tables.
    package func sealedKeyTables() async throws -> [SealedKeyTable] {
        try await pool.withConnection { c in try Store.keyTables(c) }
    }

    /// Everything memory is built from, in one consistent snapshot; `progress` is called every 250,000 devices.
    package func snapshot(progress: @escaping @Sendable (Int) -> Void) async throws -> StoreSnapshot {
        try await pool.withConnection { c in try Store.snapshot(c, progress: progress) }
    }

    /// Reinstatements logged at or after `sinceMillis`, in seq order.
    package func reinstatements(sinceMillis: Int64) async throws -> [(serial: String, seq: Int64, millis: Int64)] {
        try await pool.withConnection { c in try Store.reinstatements(c, sinceMillis: sinceMillis) }
    }

    /// The log-signing key and the CA (with its intermediate key), unsealed with the KEK (leader-eligible nodes).
    package func writerKeys(kek: KeyEncryptionKey) async throws -> (LogSigner, CertificateAuthority) {
        try await pool.withConnection { c in try Store.writerKeys(c, kek: kek) }
    }
}
