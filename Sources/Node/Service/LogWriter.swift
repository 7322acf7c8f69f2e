import Core
import Logging
import SMAPostgres

/// The leader's write path: changes become signed log entries, committed with their table
/// writes in one fenced transaction, then applied to memory. A write is acknowledged only after commit.
final class LogWriter: Sendable {
    let pool: PostgresPool
    let signer: LogSigner
    let state: NodeState
    let leadership: Leadership
    private let logger: Logger
    /// Called with every committed batch (the peer channel pushes them).
    private let onCommit: @Sendable ([LogEntry]) -> Void

    init(pool: PostgresPool, signer: LogSigner, state: NodeState, leadership: Leadership, logger: Logger,
         onCommit: @escaping @Sendable ([LogEntry]) -> Void = { _ in }) {
        self.onCommit = onCommit
        self.pool = pool
        self.signer = signer
        self.state = state
        self.leadership = leadership
        self.logger = logger
    }

    /// Commits `changes` atomically with their audit rows (`audit`); returns their entries (the last one's
    /// seq is the write's `X-SMA-Seq`). `followUp` runs in the same transaction after `changes` are applied
    /// and may add changes that depend on them (a new CRL after a revocation).
    func write(_ changes: [LogChange], audit: AuditActor?,
               followUp: (@Sendable (PostgresConnection) throws -> [LogChange])? = nil) async throws -> [LogEntry] {
        guard let fence = leadership.fence else {
            throw NodeError(.notLeader, "this node does not hold the leader lease")
        }
        let signer = self.signer, kek = state.kek
        let entries: [LogEntry]
        var allChanges: [LogChange] = []
        do {
            (entries, allChanges) = try await pool.withConnection { c in
                try c.transaction { c in
                    var entries: [LogEntry] = []
                    var all = changes
                    if !changes.isEmpty {
                        entries = try Store.append(c, changes, signer: signer, fence: fence, kek: kek, audit: audit)
                    }
                    if let followUp {
                        let more = try followUp(c)
                        if !more.isEmpty {
                            entries += try Store.append(c, more, signer: signer, fence: fence, kek: kek, audit: audit)
                            all += more
                        }
                    }
                    return (entries, all)
                }
            }
        } catch let e as PostgresError where e.isUniqueViolation {
            switch e.constraint {
            case "devices_pkey": throw NodeError(.conflict, "a device with this serial is already provisioned", field: "device_serial")
            case "devices_nuc_hash_key": throw NodeError(.conflict, "a device with this NUC hash is already provisioned", field: "nuc_hash")
            default: throw NodeError(.conflict, "the change conflicts with existing data")
            }
        } catch let e as Store.AuditFailure {
            logger.error("audit record could not be stored; write refused", metadata: ["error": "\(e.underlying)"])
            throw NodeError(.unavailable, "the audit record could not be stored; the write was not committed")
        } catch let e as PostgresError {
            logger.error("write transaction failed", metadata: ["error": "\(e)"])
            throw NodeError(.unavailable, "the authoritative database is unavailable; the write was not committed")
        }
        guard !entries.isEmpty else { return [] }
        state.offer(Array(zip(entries, allChanges)).map { (entry: $0.0, change: $0.1) })
        onCommit(entries)
        return entries
    }
}
