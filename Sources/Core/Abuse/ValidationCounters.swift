import Synchronization

/// Per-device validation counts since the last `drain`, indexed by the registry's device slot, with a
/// small per-device filter of recently counted images so that a replayed token counts once.
///
/// Each slot is a 16-byte group of four `UInt32` atomics (one 16-byte-aligned group: one cache line):
/// the counter, then `ways` (3) tags of the images counted last. A tag is 32 bits of the image's
/// identity (a token's random nonce, a certificate bundle's image hash). A validation whose tag is
/// among the device's 3 tags is a replay and is not counted; otherwise it is counted and its tag
/// replaces the oldest (FIFO: the position is the counter's value mod 3, so no extra state).
///
/// Bound: a token replayed any number of times, at any rate, counts once as long as the device made
/// fewer than 3 other counted images since (its own fresh images, or other tokens of it). Someone
/// holding more than 3 distinct tokens of one device and replaying them in rotation still makes each
/// replay count; the cluster-wide corroboration rule (`AbuseLedger`) is the defence there.
/// Two different images share a tag with probability 2^-32 (one would then not be counted).
///
/// The validation hot path does at most three relaxed loads, one relaxed store and one relaxed add
/// on the same cache line (no lock of its own, no allocation); two concurrent validations of the same
/// token may both count. Storage is chunked (65,536 slots per chunk, allocated on demand, never moved),
/// so growing never copies and never races with increments: `reserve(slots:)` is called by `Registry`
/// under its write lock, increments and drains happen under its read lock.
/// Memory: 16 bytes per device slot (16 MB at 1,000,000 devices).
public final class ValidationCounters: @unchecked Sendable {
    // @unchecked: chunk pointers are written only by `reserve` (under the registry's write lock,
    // which orders them before every reader); the counters and tags themselves are atomics.
    public static let chunkBits = 16
    public static let chunkSize = 1 << chunkBits
    /// At most `maxChunks × chunkSize` (67,108,864) device slots are counted; slots beyond are ignored.
    public static let maxChunks = 1024
    /// Recent image tags remembered per device.
    public static let ways = 3
    /// Atomics per slot: the counter and the tags.
    static let stride = 4

    private let chunks: UnsafeMutablePointer<UnsafeMutablePointer<Atomic<UInt32>>?>
    private var allocatedChunks = 0

    public init() {
        chunks = .allocate(capacity: Self.maxChunks)
        chunks.initialize(repeating: nil, count: Self.maxChunks)
    }

    deinit {
        for c in 0..<allocatedChunks {
            chunks[c]!.deinitialize(count: Self.chunkSize * Self.stride)
            chunks[c]!.deallocate()
        }
        chunks.deallocate()
    }

    /// Slots that can be counted now.
    public var capacity: Int { allocatedChunks << Self.chunkBits }

    /// Makes slots `0..<slots` countable. Call while no increment or drain runs (registry write lock).
    public func reserve(slots: Int) {
        let needed = min(Self.maxChunks, (slots + Self.chunkSize - 1) >> Self.chunkBits)
        let count = Self.chunkSize * Self.stride
        while allocatedChunks < needed {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Atomic<UInt32>>.stride, alignment: 64)
            let chunk = raw.bindMemory(to: Atomic<UInt32>.self, capacity: count)
            for i in 0..<count { (chunk + i).initialize(to: Atomic(0)) }
            chunks[allocatedChunks] = chunk
            allocatedChunks += 1
        }
    }

    /// The 32-bit tag of a token's image: its 96-bit random nonce folded (0 is mapped by `increment`).
    @inline(__always)
    public static func tag(nonce: Bytes12) -> UInt32 {
        UInt32(truncatingIfNeeded: nonce.w0 ^ (nonce.w0 >> 32)) ^ nonce.w1
    }

    /// The 32-bit tag of an image identified by bytes (a certificate bundle's image hash): the first 4 bytes.
    public static func tag<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var t: UInt32 = 0
        for b in bytes.prefix(4) { t = t << 8 | UInt32(b) }
        return t
    }

    /// Counts one validation of the device in `slot` for the image tagged `tag`, unless that image is among
    /// the device's recently counted ones (a replay). Returns whether it was counted.
    ///
    /// A counted image whose tag is a multiple of `CallerSamples.every` is also a caller sample (about one in 64
    /// counted images, uniformly, since tags come from random nonces or image hashes): see `Registry`.
    @inline(__always)
    @discardableResult
    public func increment(slot: Int, tag: UInt32) -> Bool {
        let c = slot >> Self.chunkBits
        guard slot >= 0, c < allocatedChunks, let chunk = chunks[c] else { return false }
        let group = chunk + (slot & (Self.chunkSize - 1)) * Self.stride
        let t = tag == 0 ? 1 : tag
        if group[1].load(ordering: .relaxed) == t || group[2].load(ordering: .relaxed) == t
            || group[3].load(ordering: .relaxed) == t { return false }
        let n = group[0].wrappingAdd(1, ordering: .relaxed).oldValue
        group[1 + Int(n % UInt32(Self.ways))].store(t, ordering: .relaxed)
        return true
    }

    /// The counts since the previous drain, as (slot, count) pairs for nonzero slots below `slots`;
    /// each counter is atomically reset to zero, so no increment is lost or counted twice.
    public func drain(slots: Int) -> [(slot: Int, count: UInt32)] {
        var out: [(slot: Int, count: UInt32)] = []
        let limit = min(slots, capacity)
        var s = 0
        while s < limit {
            let chunk = chunks[s >> Self.chunkBits]!
            let end = min(limit, (s | (Self.chunkSize - 1)) + 1)
            for i in s..<end {
                let p = chunk + (i & (Self.chunkSize - 1)) * Self.stride
                if p.pointee.load(ordering: .relaxed) != 0 {
                    let v = p.pointee.exchange(0, ordering: .relaxed)
                    if v != 0 { out.append((i, v)) }
                }
            }
            s = end
        }
        return out
    }

    /// Sets the counter of `slot` to zero (a reinstated device starts a new window). Its recent tags stay:
    /// a replay of an image counted before the reinstatement still does not count.
    public func reset(slot: Int) {
        let c = slot >> Self.chunkBits
        guard slot >= 0, c < allocatedChunks, let chunk = chunks[c] else { return }
        chunk[(slot & (Self.chunkSize - 1)) * Self.stride].store(0, ordering: .relaxed)
    }
}
