/// Per-device validation counts over a sliding window of whole buckets (24 one-hour buckets by
/// default), indexed by device slot. Pure: time is passed in (seconds since the epoch).
///
/// The window is the current bucket plus the `buckets - 1` completed ones before it, so with
/// hourly buckets a count covers between 23 and 24 hours. Completed buckets are kept as `UInt16`
/// per device (a bucket that saw no validation at all takes no memory; an hour with more than
/// 65,535 validations of one device counts as 65,535), the current bucket and the running total
/// as `UInt32`: at most 4 + 4 + 2 × 23 = 54 bytes per device (54 MB at 1,000,000 devices).
///
/// Devices whose total reaches `floor` are kept in `heavy`, the set a node reports to its peers.
public struct SlidingWindowCounts: Sendable {
    /// Buckets in the window (current one included), at least 1.
    public let buckets: Int
    /// Length of one bucket, seconds.
    public let bucketSeconds: Int64
    /// Totals at or above this are "heavy hitters" (reported to peers); at least 1.
    public let floor: UInt32

    /// Index of the current bucket: `floor(now / bucketSeconds)`.
    public private(set) var currentBucket: Int64
    private var current: [UInt32] = []
    /// Completed buckets; bucket `b` lives at `b mod (buckets - 1)`. Empty array = all zero.
    private var past: [[UInt16]]
    private var total: [UInt32] = []
    /// Slots whose total is at least `floor`.
    public private(set) var heavy: Set<Int> = []

    public init(buckets: Int = 24, bucketSeconds: Int64 = 3600, floor: UInt32 = 1, now: Int64) {
        self.buckets = max(1, buckets)
        self.bucketSeconds = max(1, bucketSeconds)
        self.floor = max(1, floor)
        self.currentBucket = Self.bucket(now, self.bucketSeconds)
        self.past = Array(repeating: [], count: self.buckets - 1)
    }

    static func bucket(_ t: Int64, _ size: Int64) -> Int64 {
        t >= 0 ? t / size : (t - size + 1) / size
    }

    /// The window length, seconds.
    public var windowSeconds: Int64 { Int64(buckets) * bucketSeconds }

    /// The count of `slot` over the window.
    public func count(slot: Int) -> UInt32 {
        slot >= 0 && slot < total.count ? total[slot] : 0
    }

    /// Moves the window to `now`: buckets that fell out of it are subtracted. Time never goes back
    /// (an earlier `now` is ignored).
    public mutating func advance(to now: Int64) {
        let target = Self.bucket(now, bucketSeconds)
        guard target > currentBucket else { return }
        if target - currentBucket >= Int64(buckets) {
            // Everything is older than the window.
            current = Array(repeating: 0, count: current.count)
            total = Array(repeating: 0, count: total.count)
            past = Array(repeating: [], count: buckets - 1)
            heavy = []
            currentBucket = target
            return
        }
        while currentBucket < target { rotate() }
        heavy = heavy.filter { total[$0] >= floor }
    }

    /// Closes the current bucket and opens the next one.
    private mutating func rotate() {
        let ring = buckets - 1
        if ring == 0 {
            for i in current.indices where current[i] != 0 {
                total[i] = Self.minus(total[i], current[i])
                current[i] = 0
            }
        } else {
            // Bucket `currentBucket - ring` (same position as `currentBucket`) leaves the window now.
            let pos = Int((currentBucket % Int64(ring) + Int64(ring)) % Int64(ring))
            let leaving = past[pos]
            for i in leaving.indices where leaving[i] != 0 { total[i] = Self.minus(total[i], UInt32(leaving[i])) }
            var closing: [UInt16] = []
            if current.contains(where: { $0 != 0 }) {
                closing = [UInt16](repeating: 0, count: current.count)
                for i in current.indices where current[i] != 0 {
                    let kept = UInt16(clamping: current[i])
                    closing[i] = kept
                    total[i] = Self.minus(total[i], current[i] - UInt32(kept))
                    current[i] = 0
                }
            }
            past[pos] = closing
        }
        currentBucket += 1
    }

    private static func minus(_ a: UInt32, _ b: UInt32) -> UInt32 { a >= b ? a - b : 0 }

    /// Adds drained counts (slot, count) at time `now` (the window is advanced first).
    public mutating func add<S: Sequence>(_ counts: S, now: Int64) where S.Element == (slot: Int, count: UInt32) {
        advance(to: now)
        for (slot, n) in counts where slot >= 0 && n > 0 {
            if slot >= total.count {
                let grow = slot + 1 - total.count
                total.append(contentsOf: repeatElement(0, count: grow))
                current.append(contentsOf: repeatElement(0, count: grow))
            }
            current[slot] = current[slot].addingReportingOverflow(n).overflow ? .max : current[slot] + n
            total[slot] = total[slot].addingReportingOverflow(n).overflow ? .max : total[slot] + n
            if total[slot] >= floor { heavy.insert(slot) }
        }
    }

    /// Forgets every count of `slot` (a reinstated device starts a new window).
    public mutating func reset(slot: Int) {
        guard slot >= 0, slot < total.count else { return }
        total[slot] = 0
        current[slot] = 0
        for k in past.indices where slot < past[k].count { past[k][slot] = 0 }
        heavy.remove(slot)
    }

    /// The heavy hitters (slot, total), highest first, at most `limit`.
    public func heavyHitters(limit: Int = .max) -> [(slot: Int, count: UInt32)] {
        let all = heavy.map { (slot: $0, count: total[$0]) }
        return Array(all.sorted { $0.count != $1.count ? $0.count > $1.count : $0.slot < $1.slot }.prefix(limit))
    }
}
