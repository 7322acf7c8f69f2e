/// How old this node's knowledge of the log is: the last moment at which it is known to have applied everything the
/// current leader had applied, as the leader last reported it (docs/ARCHITECTURE.md §2.9, "Staleness").
///
/// The leader reports its applied seq in its own gossip record (signed by it, relayed by anyone), in the head of
/// every push it sends and in the head of every log page it serves. A report counts as contact when it is new: a
/// record of the current leader with a newer `(incarnation, heartbeat)` than the last one seen, or a push or pull
/// answer from the leader itself. Contact at time T with the leader at seq S makes this node's knowledge current
/// as of T once it has applied S (at once, or later when the entries arrive).
///
/// A pure state machine over instants it is handed; the shell reads the clock.
public struct LeaderContact: Sendable {
    public typealias Instant = ContinuousClock.Instant

    /// The leader whose reports count, and the version of its record last seen.
    public private(set) var leaderID: String?
    private var lastVersion: (incarnation: UInt64, heartbeat: UInt64)?
    /// Since when this node's knowledge is known to be current.
    public private(set) var currentAt: Instant
    /// Leader seqs heard of but not applied here yet, with when they were heard (oldest first, bounded).
    private var pending: [(seq: Int64, at: Instant)] = []
    private let maxPending: Int

    /// - Parameter start: knowledge counts as current from this moment (the node's start) until the first contact.
    public init(start: Instant, maxPending: Int = 64) {
        currentAt = start
        self.maxPending = maxPending
    }

    /// The leader's gossip record as this node's member table holds it now.
    /// - Parameters:
    ///   - applied: this node's applied seq now.
    /// - Returns: whether it was new contact.
    @discardableResult
    public mutating func observeRecord(leader id: String, incarnation: UInt64, heartbeat: UInt64, appliedSeq: Int64,
                                       applied: Int64, now: Instant) -> Bool {
        let version = (incarnation, heartbeat)
        if id != leaderID {
            // A leader seen for the first time: its record may be old; only a newer version of it is contact.
            leaderID = id
            lastVersion = version
            pending.removeAll()
            resolve(applied: applied)
            return false
        }
        if let last = lastVersion, !(version.0 > last.incarnation || (version.0 == last.incarnation && version.1 > last.heartbeat)) {
            resolve(applied: applied)
            return false
        }
        lastVersion = version
        heard(seq: appliedSeq, applied: applied, now: now)
        return true
    }

    /// A push from, or a log page served by, node `id` with its applied seq `head`. Counts only from the current leader.
    @discardableResult
    public mutating func observeDirect(from id: String, head: Int64, applied: Int64, now: Instant) -> Bool {
        guard id == leaderID else { return false }
        heard(seq: head, applied: applied, now: now)
        return true
    }

    /// This node's applied seq moved: reports it has now reached make its knowledge current as of when they were heard.
    public mutating func resolve(applied: Int64) {
        while let first = pending.first, first.seq <= applied {
            if first.at > currentAt { currentAt = first.at }
            pending.removeFirst()
        }
    }

    /// How old this node's knowledge is at `now`.
    public func age(at now: Instant) -> Duration { max(.zero, currentAt.duration(to: now)) }

    private mutating func heard(seq: Int64, applied: Int64, now: Instant) {
        if seq <= applied {
            if now > currentAt { currentAt = now }
            pending.removeAll { $0.seq <= applied }
            return
        }
        if let last = pending.last, last.seq >= seq {
            // An older report of a seq already waited for: the later one alone counts once reached, which is safe.
            pending[pending.count - 1] = (last.seq, now)
        } else {
            pending.append((seq, now))
        }
        // Dropping the oldest waits only makes the knowledge look older, never newer.
        if pending.count > maxPending { pending.removeFirst(pending.count - maxPending) }
        resolve(applied: applied)
    }
}
