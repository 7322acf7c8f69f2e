package import Core
import Foundation
import Logging
import Synchronization

/// Whether this node currently holds the leader lease, and at which epoch: the pure
/// `LeaseStateMachine` behind a lock. The lease keeper feeds it; the write path reads a
/// fence from it, and the database re-checks that fence inside every write transaction.
package final class Leadership: Sendable {
    private let machine: Mutex<LeaseStateMachine>

    package init(nodeID: String, ttlSeconds: Double) {
        machine = Mutex(LeaseStateMachine(nodeID: nodeID, ttl: .milliseconds(Int64(ttlSeconds * 1000))))
    }

    /// The fence to write with, or nil when this node is not (or may no longer be) the leader.
    package var fence: LeaseStateMachine.Fence? { machine.withLock { $0.fence(at: .now) } }

    package var isLeader: Bool { fence != nil }

    /// The lease holder as last seen in the database, and its epoch.
    package var knownLeader: (id: String?, epoch: Int64) { machine.withLock { ($0.knownHolder, $0.knownEpoch) } }

    package func record(_ attempt: LeaseStateMachine.Attempt, startedAt: ContinuousClock.Instant) -> LeaseStateMachine.Transition? {
        machine.withLock { $0.record(attempt, startedAt: startedAt) }
    }

    package var nextAttempt: Duration { machine.withLock { $0.nextAttempt(after: .now) } }
}
