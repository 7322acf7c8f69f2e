/// Orders log entries for application: strictly by `seq`, each exactly once.
///
/// A pure state machine: `offer` entries in any order; it returns the ones now
/// applicable (consecutive from `applied + 1`), keeps bounded out-of-order ones
/// for later, and reports duplicates and conflicts. The shell applies what it returns.
public struct LogSequencer: Sendable {
    /// Highest seq handed out for application.
    public private(set) var applied: Int64
    private var pending: [Int64: LogEntry] = [:]
    /// Signatures of recently handed-out entries, to tell a duplicate from a conflicting entry.
    private var recent: [Int64: [UInt8]] = [:]
    private let maxPending: Int
    private let recentWindow: Int64

    public init(applied: Int64, maxPending: Int = 100_000, recentWindow: Int64 = 10_000) {
        self.applied = applied
        self.maxPending = maxPending
        self.recentWindow = recentWindow
    }

    /// What happened to an offered entry.
    public enum Rejection: Sendable, Equatable {
        /// Same seq already applied with the same signature: harmless.
        case duplicate(seq: Int64)
        /// Same seq already applied (or pending) with a different entry: refused and reported.
        case conflict(seq: Int64)
        /// Too far ahead to hold; it will be pulled again later.
        case overflow(seq: Int64)
    }

    public struct Outcome: Sendable {
        /// Entries to apply now, in seq order.
        public var ready: [LogEntry] = []
        public var rejected: [Rejection] = []
    }

    /// The first missing seq when entries are waiting behind a gap.
    public var gapStart: Int64? { pending.isEmpty ? nil : applied + 1 }

    public mutating func offer(_ entries: [LogEntry]) -> Outcome {
        var out = Outcome()
        for e in entries {
            if e.seq <= applied {
                if let sig = recent[e.seq], sig != e.signature { out.rejected.append(.conflict(seq: e.seq)) }
                else { out.rejected.append(.duplicate(seq: e.seq)) }
                continue
            }
            if let existing = pending[e.seq] {
                if existing.signature != e.signature { out.rejected.append(.conflict(seq: e.seq)) }
                continue
            }
            guard pending.count < maxPending else { out.rejected.append(.overflow(seq: e.seq)); continue }
            pending[e.seq] = e
        }
        while let next = pending.removeValue(forKey: applied + 1) {
            applied += 1
            out.ready.append(next)
            recent[next.seq] = next.signature
            recent[next.seq - recentWindow] = nil
        }
        return out
    }
}
