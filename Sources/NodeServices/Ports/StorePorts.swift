package import Core
import Foundation
import Logging

/// The storage ports: what the node's services, replication and the API need from the database, as protocols.
///
/// `Storage.SQLStore` implements them on PostgreSQL; the executable injects it. Targets above `NodeServices`
/// (API, Replication) reach the database only through these, so none of them can see SQL or libpq.

/// The registration log as replication and the log tailer see it.
package protocol LogStore: Sendable {
    /// Entries with seq > `after`, in order, at most `limit`.
    func entries(after: Int64, limit: Int) async throws -> [LogEntry]
    /// Applies verified entries strictly in seq order, idempotently, in one transaction (one batch at a time).
    func applyReplicated(_ batch: [(entry: LogEntry, change: LogChange)]) async throws -> ReplicatedBatch
}

/// The leader lease row: database time, epoch incremented on every takeover (docs/ARCHITECTURE.md §2).
package protocol LeaseStore: Sendable {
    /// Takes or renews the lease for `holder`; the epoch when held, nil when another node holds it.
    func acquireLease(holder: String, ttlSeconds: Double) async throws -> Int64?
    func lease() async throws -> LeaseInfo
    func releaseLease(holder: String) async throws
}

/// The leader's write path: changes become signed entries committed with their table writes and audit rows.
package protocol LogCommitter: Sendable {
    /// Appends `changes` as consecutive signed entries, applies them and records `audit`, in one transaction fenced
    /// by `fence`; then `followUp` (in the same transaction) may add changes that depend on them.
    /// Throws `NodeError` (`.notLeader`, `.conflict`, `.unavailable`) naming what went wrong.
    func commit(_ changes: [LogChange], signer: LogSigner, fence: LeaseStateMachine.Fence?, audit: AuditActor?,
                followUp: (@Sendable (any CommitReads) throws -> [LogChange])?) async throws -> [(entry: LogEntry, change: LogChange)]
}

/// Reads inside a write transaction (they see the changes it has applied so far).
package protocol CommitReads {
    /// The seq of the last entry appended so far.
    func logHead() throws -> Int64
    /// What a CRL lists: every revoked device's certificate, when and why it was revoked.
    func revokedCertificates() throws -> [RevokedCertificate]
    /// The id for a new API key (serialised with every other key creation).
    func nextAPIKeyID() throws -> Int64
}

/// The read-only queries behind the operator routes.
package protocol RegistryQueries: Sendable {
    func device(serial: String) async throws -> DeviceDetails?
    /// One page of devices ordered by serial, after `after`, optionally of one family.
    func devices(family: String?, after: String?, limit: Int) async throws -> [DeviceDetails]
    /// One page of the devices holding key table `table`; nil when there is no such table.
    func devices(holdingTable table: Int, after: String?, limit: Int) async throws -> [DeviceDetails]?
    /// Every key table with its state and the number of devices holding it.
    func keyTables() async throws -> [KeyTableInfo]
    /// A page of the audit trail by id: oldest first (`id > after`) or newest first (`id < after`).
    func audit(after: Int64?, limit: Int, newestFirst: Bool) async throws -> [AuditRecord]
    func stats() async throws -> DatabaseStats
    /// What `/stats` checks memory against: the device count and every revoked serial as stored, read in one
    /// snapshot with the log head they reflect.
    func revocationSnapshot() async throws -> RevocationSnapshot
    /// The most recently revoked devices (currently revoked), newest first.
    func recentRevocations(limit: Int) async throws -> [Revocation]
    /// Every API key (never its secret), by id.
    func apiKeys() async throws -> [APIKeyRecord]
}

/// Every port at once (what the executable hands to the services).
package typealias NodeStore = LogStore & LeaseStore & LogCommitter & RegistryQueries
