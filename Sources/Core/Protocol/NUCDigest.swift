/// What nodes store, replicate and index instead of a camera's NUC hash: HMAC-SHA256(cluster NUC digest key, NUC hash)
/// (docs/ARCHITECTURE.md §3.2).
///
/// Without the digest key it reveals nothing about the NUC hash and cannot be turned into a token; the raw hash exists
/// only in the provisioning answer and, transiently, while a token is validated. `description` never prints it.
public struct NUCDigest: Hashable, Sendable, CustomStringConvertible {
    public var value: Bytes32

    public init(_ value: Bytes32) { self.value = value }
    public init?(hex: some StringProtocol) {
        guard let v = Bytes32(hex: hex) else { return nil }
        self.value = v
    }
    public init?(bytes: some Collection<UInt8>) {
        guard let v = Bytes32(bytes) else { return nil }
        self.value = v
    }

    public var hex: String { value.hex }
    public var bytes: [UInt8] { value.bytes }
    public var description: String { "NUCDigest(redacted)" }
}
