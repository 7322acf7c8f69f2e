import Synchronization

/// Which API keys validate a device, sampled: a counted validation (`ValidationCounters`) whose image tag is a
/// multiple of `every` is recorded with the caller's key id — about one in `every` counted images, uniformly,
/// since tags come from the tokens' random nonces — so heavy devices (the only ones abuse detection reports)
/// collect samples in proportion to their count. An estimate is samples × `every`.
///
/// Bounded: at most `maxDevices` devices are tracked (further samples are dropped until the next reset) and
/// at most `maxKeysPerDevice` keys per device; everything is forgotten every window (24 h), so estimates
/// cover at most about one window. Used only to name, in the audit row of an automatic revocation, the API
/// keys that contributed most (docs/ARCHITECTURE.md §2.10); never to decide.
public final class CallerSamples: Sendable {
    /// One sample per this many counted validations of a device.
    public static let every: UInt32 = 64
    /// Keys named per device in a report.
    public static let named = 3
    static let maxDevices = 65_536
    static let maxKeysPerDevice = 64

    private let samples = Mutex<[Int: [UInt32: UInt32]]>([:])

    public init() {}

    /// Whether a counted image with this tag is a sample.
    @inline(__always)
    public static func isSample(tag: UInt32) -> Bool { tag % every == 0 }

    /// Records one sample of `caller` (an API key id; 0 = anonymous, not recorded) for the device in `slot`.
    public func record(slot: Int, caller: UInt32) {
        guard caller != 0 else { return }
        samples.withLock { s in
            if s[slot] == nil && s.count >= Self.maxDevices { return }
            if s[slot, default: [:]][caller] == nil && (s[slot]?.count ?? 0) >= Self.maxKeysPerDevice { return }
            s[slot, default: [:]][caller, default: 0] &+= 1
        }
    }

    /// The top `named` callers of the device in `slot` with their estimated counts, highest first (ties by id).
    public func top(slot: Int) -> [(caller: UInt32, estimate: UInt32)] {
        let keys = samples.withLock { $0[slot] } ?? [:]
        return keys.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(Self.named)
            .map { (caller: $0.key, estimate: $0.value &* Self.every) }
    }

    /// Forgets the device in `slot` (reinstated: it starts a new window).
    public func reset(slot: Int) { _ = samples.withLock { $0.removeValue(forKey: slot) } }

    /// Forgets everything (a new window).
    public func resetAll() { samples.withLock { $0.removeAll() } }
}
