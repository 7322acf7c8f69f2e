/// PASS/FAIL validation counts per fixed time bucket (default 10 s) over the last minutes (default 90 buckets = 15 min):
/// a ring of buckets aligned to Unix time, so series from different nodes add up bucket by bucket.
///
/// Pure value type: the caller supplies the time. Counts older than the ring's span are dropped.
public struct ValidationSeries: Sendable, Equatable {
    /// One bucket: validations whose count was recorded in `[start, start + width)` (Unix seconds).
    public struct Bucket: Sendable, Equatable, Codable {
        public var start: Int64
        public var pass: Int64
        public var fail: Int64

        public init(start: Int64, pass: Int64 = 0, fail: Int64 = 0) {
            self.start = start
            self.pass = pass
            self.fail = fail
        }
    }

    /// Bucket width in seconds.
    public let width: Int64
    /// Number of buckets kept.
    public let capacity: Int
    private var ring: [Bucket]

    public init(width: Int64 = 10, capacity: Int = 90) {
        precondition(width > 0 && capacity > 0, "width and capacity must be positive")
        self.width = width
        self.capacity = capacity
        ring = Array(repeating: Bucket(start: Int64.min), count: capacity)
    }

    /// The start of the bucket that holds `time` (floor to a multiple of `width`).
    public func bucketStart(_ time: Int64) -> Int64 {
        let q = time / width
        return (time % width < 0 ? q - 1 : q) * width
    }

    private func slot(_ start: Int64) -> Int {
        let n = (start / width) % Int64(capacity)
        return Int(n < 0 ? n + Int64(capacity) : n)
    }

    /// Adds counts to the bucket holding `time` (Unix seconds). Counts for a bucket that the ring has
    /// already reused for a later time are dropped.
    public mutating func add(pass: Int64, fail: Int64, at time: Int64) {
        guard pass != 0 || fail != 0 else { return }
        let start = bucketStart(time)
        let i = slot(start)
        if ring[i].start < start {
            ring[i] = Bucket(start: start)
        } else if ring[i].start > start {
            return
        }
        ring[i].pass += pass
        ring[i].fail += fail
    }

    /// The last `capacity` buckets up to and including the one holding `time`, oldest first;
    /// buckets with nothing recorded are zero.
    public func buckets(endingAt time: Int64) -> [Bucket] {
        let last = bucketStart(time)
        var out: [Bucket] = []
        out.reserveCapacity(capacity)
        for k in stride(from: Int64(capacity - 1), through: 0, by: -1) {
            let start = last - k * width
            let b = ring[slot(start)]
            out.append(b.start == start ? b : Bucket(start: start))
        }
        return out
    }

    /// Adds series from several nodes bucket by bucket (by `start`), oldest first.
    public static func sum(_ series: [[Bucket]]) -> [Bucket] {
        var byStart: [Int64: Bucket] = [:]
        for s in series {
            for b in s {
                byStart[b.start, default: Bucket(start: b.start)].pass += b.pass
                byStart[b.start, default: Bucket(start: b.start)].fail += b.fail
            }
        }
        return byStart.values.sorted { $0.start < $1.start }
    }
}
