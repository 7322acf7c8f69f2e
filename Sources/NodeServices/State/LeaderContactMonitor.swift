package import Core
import Synchronization

/// How old this node's knowledge of the log is (docs/ARCHITECTURE.md §2.9, "Staleness"): the pure `LeaderContact`
/// behind a lock, fed by the replication loop, and read on the validation path through one atomic load.
///
/// The leader itself is never stale, nor is a node without a peer channel (it is its own authority).
package final class LeaderContactMonitor: Sendable {
    private let origin: ContinuousClock.Instant
    private let contact: Mutex<LeaderContact>
    /// `contact.currentAt` as nanoseconds since `origin`, for the validation path.
    private let currentAtNanos = Atomic<Int64>(0)
    private let leading = Atomic<Bool>(false)
    private let tracking = Atomic<Bool>(false)
    /// When a `warn` line was last logged (nanoseconds since `origin`; `Int64.min`: never).
    private let lastWarning = Atomic<Int64>(.min)

    package init(start: ContinuousClock.Instant = .now) {
        origin = start
        contact = Mutex(LeaderContact(start: start))
    }

    /// The replication loop runs: from now on knowledge ages until the leader is heard from.
    package func startTracking() { tracking.store(true, ordering: .releasing) }

    /// Whether this node holds the lease (it is then never stale).
    package func setLeading(_ leading: Bool) { self.leading.store(leading, ordering: .releasing) }

    /// The current leader's member record as this node's table holds it.
    package func observeRecord(leader id: String, incarnation: UInt64, heartbeat: UInt64, appliedSeq: Int64, applied: Int64,
                               now: ContinuousClock.Instant = .now) {
        update { $0.observeRecord(leader: id, incarnation: incarnation, heartbeat: heartbeat, appliedSeq: appliedSeq, applied: applied, now: now) }
    }

    /// A push or a log page from node `id` carrying its applied seq `head` (counts only from the current leader).
    package func observeDirect(from id: String, head: Int64, applied: Int64, now: ContinuousClock.Instant = .now) {
        update { $0.observeDirect(from: id, head: head, applied: applied, now: now) }
    }

    /// This node applied more: reports of the leader it has now reached count.
    package func resolve(applied: Int64) { update { $0.resolve(applied: applied) } }

    /// How old this node's knowledge is at `now` (zero on the leader and on a node without replication).
    package func age(at now: ContinuousClock.Instant = .now) -> Duration {
        guard tracking.load(ordering: .acquiring), !leading.load(ordering: .acquiring) else { return .zero }
        let current = origin.advanced(by: .nanoseconds(currentAtNanos.load(ordering: .acquiring)))
        return max(.zero, current.duration(to: now))
    }

    /// Whether a `warn` line may be logged now (at most once per `interval`).
    package func mayLogWarning(now: ContinuousClock.Instant = .now, interval: Duration = .seconds(60)) -> Bool {
        let t = Self.nanos(origin.duration(to: now))
        let last = lastWarning.load(ordering: .relaxed)
        guard last == .min || t - last >= Self.nanos(interval) else { return false }
        return lastWarning.compareExchange(expected: last, desired: t, ordering: .relaxed).exchanged
    }

    private func update(_ body: (inout LeaderContact) -> Void) {
        contact.withLock { c in
            body(&c)
            currentAtNanos.store(Self.nanos(origin.duration(to: c.currentAt)), ordering: .releasing)
        }
    }

    private static func nanos(_ d: Duration) -> Int64 {
        let (s, a) = d.components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
}
