import Synchronization

/// Per-device validation counts since the last `drain`, indexed by the registry's device slot.
///
/// The validation hot path does one relaxed atomic increment per identified device (no lock of
/// its own, no allocation). Storage is chunked (65,536 slots per chunk, allocated on demand, never
/// moved), so growing never copies and never races with increments: `reserve(slots:)` is called by
/// `Registry` under its write lock, increments and drains happen under its read lock.
/// Memory: 4 bytes per device slot.
public final class ValidationCounters: @unchecked Sendable {
    // @unchecked: chunk pointers are written only by `reserve` (under the registry's write lock,
    // which orders them before every reader); the counters themselves are atomics.
    public static let chunkBits = 16
    public static let chunkSize = 1 << chunkBits
    /// At most `maxChunks × chunkSize` (67,108,864) device slots are counted; slots beyond are ignored.
    public static let maxChunks = 1024

    private let chunks: UnsafeMutablePointer<UnsafeMutablePointer<Atomic<UInt32>>?>
    private var allocatedChunks = 0

    public init() {
        chunks = .allocate(capacity: Self.maxChunks)
        chunks.initialize(repeating: nil, count: Self.maxChunks)
    }

    deinit {
        for c in 0..<allocatedChunks {
            chunks[c]!.deinitialize(count: Self.chunkSize)
            chunks[c]!.deallocate()
        }
        chunks.deallocate()
    }

    /// Slots that can be counted now.
    public var capacity: Int { allocatedChunks << Self.chunkBits }

    /// Makes slots `0..<slots` countable. Call while no increment or drain runs (registry write lock).
    public func reserve(slots: Int) {
        let needed = min(Self.maxChunks, (slots + Self.chunkSize - 1) >> Self.chunkBits)
        while allocatedChunks < needed {
            let chunk = UnsafeMutablePointer<Atomic<UInt32>>.allocate(capacity: Self.chunkSize)
            for i in 0..<Self.chunkSize { (chunk + i).initialize(to: Atomic(0)) }
            chunks[allocatedChunks] = chunk
            allocatedChunks += 1
        }
    }

    /// Counts one validation of the device in `slot` (relaxed atomic add; saturates at `UInt32.max`
    /// only in theory: a drain every few seconds keeps the values small).
    @inline(__always)
    public func increment(slot: Int) {
        let c = slot >> Self.chunkBits
        guard slot >= 0, c < allocatedChunks, let chunk = chunks[c] else { return }
        chunk[slot & (Self.chunkSize - 1)].wrappingAdd(1, ordering: .relaxed)
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
                let p = chunk + (i & (Self.chunkSize - 1))
                if p.pointee.load(ordering: .relaxed) != 0 {
                    let v = p.pointee.exchange(0, ordering: .relaxed)
                    if v != 0 { out.append((i, v)) }
                }
            }
            s = end
        }
        return out
    }

    /// Sets the counter of `slot` to zero (a reinstated device starts a new window).
    public func reset(slot: Int) {
        let c = slot >> Self.chunkBits
        guard slot >= 0, c < allocatedChunks, let chunk = chunks[c] else { return }
        chunk[slot & (Self.chunkSize - 1)].store(0, ordering: .relaxed)
    }
}
