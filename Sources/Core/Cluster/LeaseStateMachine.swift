/// The leader-lease decisions of one node, as a pure state machine (no clock reads, no I/O).
///
/// The shell (the lease keeper) asks the database to take or renew the lease (database time,
/// TTL) and reports the outcome with the instant the attempt *started*. The machine decides
/// whether the node may write (and with which fence), and when to try next. It believes a
/// renewed lease for `safety x TTL` from the attempt's start, so it stops writing before the
/// database could let another node take over, even if this node's clock runs a little fast
/// or the reply was delayed.
public struct LeaseStateMachine: Sendable {
    public struct Fence: Sendable, Equatable {
        public var holder: String
        public var epoch: Int64
        public init(holder: String, epoch: Int64) {
            self.holder = holder
            self.epoch = epoch
        }
    }

    /// What the database answered to an attempt.
    public enum Attempt: Sendable, Equatable {
        /// We hold the lease at this epoch (taken or renewed).
        case held(epoch: Int64)
        /// Someone else holds it.
        case heldByOther(holder: String?, epoch: Int64)
        /// The database could not be asked (down, timeout).
        case failed
    }

    /// A change worth logging.
    public enum Transition: Sendable, Equatable {
        case tookLease(epoch: Int64)
        case lostLease(newHolder: String?)
        case stoppedWriting
    }

    public let nodeID: String
    public let ttl: Duration
    public let safety: Double
    private var fence: Fence?
    private var believedUntil: ContinuousClock.Instant?
    public private(set) var knownHolder: String?
    public private(set) var knownEpoch: Int64 = 0

    public init(nodeID: String, ttl: Duration, safety: Double = 0.8) {
        precondition(safety > 0 && safety < 1)
        self.nodeID = nodeID
        self.ttl = ttl
        self.safety = safety
    }

    /// The fence to write with at `now`, or nil when this node must not write.
    public func fence(at now: ContinuousClock.Instant) -> Fence? {
        guard let fence, let until = believedUntil, now < until else { return nil }
        return fence
    }

    /// Records an attempt that started at `startedAt`; returns what changed.
    public mutating func record(_ attempt: Attempt, startedAt: ContinuousClock.Instant) -> Transition? {
        let wasWriting = fence(at: startedAt) != nil
        switch attempt {
        case .held(let epoch):
            let isNew = fence?.epoch != epoch || !wasWriting
            fence = Fence(holder: nodeID, epoch: epoch)
            believedUntil = startedAt.advanced(by: ttl * safety)
            knownHolder = nodeID
            knownEpoch = epoch
            return isNew ? .tookLease(epoch: epoch) : nil
        case .heldByOther(let holder, let epoch):
            let had = fence != nil
            fence = nil
            believedUntil = nil
            knownHolder = holder
            knownEpoch = epoch
            return had ? .lostLease(newHolder: holder) : nil
        case .failed:
            // Keep believing until the deadline already set; nothing to extend.
            if wasWriting, let until = believedUntil, startedAt.advanced(by: ttl / 3) >= until { return .stoppedWriting }
            return nil
        }
    }

    /// How long to wait before the next attempt: renew every TTL/3 while leading, retry sooner as standby.
    public func nextAttempt(after now: ContinuousClock.Instant, standbyRetry: Duration = .milliseconds(250)) -> Duration {
        fence(at: now) != nil ? ttl / 3 : min(ttl / 3, standbyRetry)
    }
}
