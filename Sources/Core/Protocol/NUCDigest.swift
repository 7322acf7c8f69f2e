/// What nodes store, replicate and index instead of a camera's NUC hash: HMAC-SHA256(cluster NUC digest key, NUC hash)
/// (docs/ARCHITECTURE.md §3.2).
///
/// Without the digest key it reveals nothing about the NUC hash and cannot be turned into a token; the raw hash exists
/// only in the provisioning answer and, transiently, while a token is validated. `description` never prints it.
public struct NUCDigest: SecretBytes32 {
    public var value: Bytes32

    public init(_ value: Bytes32) { self.value = value }

    public var description: String { "NUCDigest(redacted)" }

    public static func == (a: NUCDigest, b: NUCDigest) -> Bool { a.value == b.value }
    public func hash(into hasher: inout Hasher) { hasher.combine(value.w0) }
    /// The device index's hash, without running `Hasher` (a measurable part of a ~0.8 µs validation): a digest is an
    /// HMAC output under a key no client knows, so its first word is already uniform and cannot be steered into
    /// collisions. The seed keeps each dictionary's layout its own.
    public func _rawHashValue(seed: Int) -> Int { Int(truncatingIfNeeded: value.w0) ^ seed }
}
