/// A camera's 32-byte sensor fingerprint (non-uniformity-correction hash).
///
/// It identifies the device and is secret-ish: `description` never prints it.
/// Use `hex` explicitly where the protocol returns it (the provisioning file).
public struct NUCHash: SecretBytes32 {
    public var value: Bytes32

    public init(_ value: Bytes32) { self.value = value }

    public var description: String { "NUCHash(redacted)" }
}
