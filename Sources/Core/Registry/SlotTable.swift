/// An open-addressing hash table (linear probing) from a 64-bit key hash to a device slot; the keys themselves stay in
/// `DeviceIndex`'s contiguous storage, so a bucket is 8 bytes and growing never allocates per device.
///
/// A bucket holds 0 (empty) or `tag << 32 | (slot + 1)`, where `tag` is the upper 32 bits of the key's hash: a probe
/// compares tags first and reads the device only on a tag match. Entries are never removed. The load factor stays at
/// or below 3/4; `reserveCapacity` sizes it once (start-up), so loading N devices never rehashes.
@usableFromInline
struct SlotTable: Sendable {
    @usableFromInline var buckets: [UInt64]
    @usableFromInline var mask: Int
    private(set) var count = 0

    init(capacity: Int = 0) {
        let size = Self.bucketCount(for: capacity)
        buckets = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    /// The smallest power of two (at least 16) that holds `n` keys at a load of at most 3/4.
    static func bucketCount(for n: Int) -> Int {
        var size = 16
        while size / 4 * 3 < n { size <<= 1 }
        return size
    }

    /// The first slot, in probe order, whose tag matches `hash` and for which `matches` is true.
    @inline(__always)
    func find(hash: UInt64, _ matches: (Int) -> Bool) -> Int? {
        let tag = hash >> 32
        var i = Int(truncatingIfNeeded: hash) & mask
        return buckets.withUnsafeBufferPointer { b in
            while true {
                let bucket = b[i]
                if bucket == 0 { return nil }
                if bucket >> 32 == tag {
                    let slot = Int(truncatingIfNeeded: bucket & 0xFFFF_FFFF) - 1
                    if matches(slot) { return slot }
                }
                i = (i &+ 1) & mask
            }
        }
    }

    /// Adds `slot` under `hash` (the caller has checked that its key is absent). `hashOf` gives the hash of any slot
    /// already held, for when the table grows.
    mutating func insert(hash: UInt64, slot: Int, hashOf: (Int) -> UInt64) {
        if count + 1 > buckets.count / 4 * 3 { resize(to: buckets.count * 2, hashOf: hashOf) }
        place(hash: hash, slot: slot)
        count += 1
    }

    /// Makes room for `n` keys without further growth.
    mutating func reserveCapacity(_ n: Int, hashOf: (Int) -> UInt64) {
        let size = Self.bucketCount(for: n)
        if size > buckets.count { resize(to: size, hashOf: hashOf) }
    }

    private mutating func place(hash: UInt64, slot: Int) {
        let bucket = (hash >> 32) << 32 | UInt64(slot + 1)
        let mask = mask
        var i = Int(truncatingIfNeeded: hash) & mask
        buckets.withUnsafeMutableBufferPointer { b in
            while b[i] != 0 { i = (i &+ 1) & mask }
            b[i] = bucket
        }
    }

    private mutating func resize(to size: Int, hashOf: (Int) -> UInt64) {
        let old = buckets
        buckets = [UInt64](repeating: 0, count: size)
        mask = size - 1
        for bucket in old where bucket != 0 {
            let slot = Int(truncatingIfNeeded: bucket & 0xFFFF_FFFF) - 1
            place(hash: hashOf(slot), slot: slot)
        }
    }
}
