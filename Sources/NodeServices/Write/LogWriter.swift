package import Core
import Logging

/// The leader's write path: changes become signed log entries, committed with their table
/// writes in one fenced transaction, then applied to memory. A write is acknowledged only after commit.
package final class LogWriter: Sendable {
    let store: any LogCommitter
    let signer: LogSigner
    let state: NodeState
    let leadership: Leadership
    /// Called with every committed batch (the peer channel pushes them).
    private let onCommit: @Sendable ([LogEntry]) -> Void

    package init(store: any LogCommitter, signer: LogSigner, state: NodeState, leadership: Leadership,
                 onCommit: @escaping @Sendable ([LogEntry]) -> Void = { _ in }) {
        self.onCommit = onCommit
        self.store = store
        self.signer = signer
        self.state = state
        self.leadership = leadership
    }

    /// Commits `changes` atomically with their audit rows (`audit`); returns their entries (the last one's
    /// seq is the write's `X-SMA-Seq`). `followUp` runs in the same transaction after `changes` are applied
    /// and may add changes that depend on them (a new CRL after a revocation).
    package func write(_ changes: [LogChange], audit: AuditActor?,
                       followUp: (@Sendable (any CommitReads) throws -> [LogChange])? = nil) async throws -> [LogEntry] {
        guard let fence = leadership.fence else {
            throw NodeError(.notLeader, "this node does not hold the leader lease")
        }
        let committed = try await store.commit(changes, signer: signer, fence: fence, audit: audit, followUp: followUp)
        guard !committed.isEmpty else { return [] }
        // The database has everything up to the last entry now (it ends any time it was behind memory).
        state.databaseStored(head: committed[committed.count - 1].entry.seq)
        state.offer(committed)
        let entries = committed.map(\.entry)
        onCommit(entries)
        return entries
    }
}
