import Core
import Logging
import Synchronization

/// Whether this node currently holds the leader lease, and at which epoch.
///
/// The lease keeper updates it; the write path reads a `Fence` from it and the
/// database re-checks that fence inside every write transaction.
final class Leadership: Sendable {
    private struct State {
        var fence: Store.Fence?
        /// Local monotonic deadline after which we stop believing we lead (TTL minus a margin).
        var believedUntil: ContinuousClock.Instant?
        var knownLeader: String?
        var knownEpoch: Int64 = 0
    }

    private let state = Mutex(State())

    /// The fence to write with, or nil when this node is not (or may no longer be) the leader.
    var fence: Store.Fence? {
        state.withLock { s in
            guard let f = s.fence, let until = s.believedUntil, ContinuousClock.now < until else { return nil }
            return f
        }
    }

    var isLeader: Bool { fence != nil }

    /// The lease holder as last seen in the database, and its epoch.
    var knownLeader: (id: String?, epoch: Int64) { state.withLock { ($0.knownLeader, $0.knownEpoch) } }

    func held(by holder: String, epoch: Int64, until: ContinuousClock.Instant) {
        state.withLock { s in
            s.fence = Store.Fence(holder: holder, epoch: epoch)
            s.believedUntil = until
            s.knownLeader = holder
            s.knownEpoch = epoch
        }
    }

    func lost(currentHolder: String?, epoch: Int64) {
        state.withLock { s in
            s.fence = nil
            s.believedUntil = nil
            s.knownLeader = currentHolder
            s.knownEpoch = epoch
        }
    }
}
