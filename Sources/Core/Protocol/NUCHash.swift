/// A camera's 32-byte sensor fingerprint (non-uniformity-correction hash).
///
/// It identifies the device and is secret-ish: `description` never prints it.
/// Use `hex` explicitly where the protocol returns it (the provisioning file).
public struct NUCHash: Hashable, Sendable, CustomStringConvertible {
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
    public var description: String { "NUCHash(redacted)" }
}
