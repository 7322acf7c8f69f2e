/// 32 bytes about a camera that are never printed (`NUCHash`, `NUCDigest`): parsing and explicit encodings.
public protocol SecretBytes32: Hashable, Sendable, CustomStringConvertible {
    var value: Bytes32 { get }
    init(_ value: Bytes32)
}

extension SecretBytes32 {
    /// Parses exactly 64 hex digits.
    public init?(hex: some StringProtocol) {
        guard let v = Bytes32(hex: hex) else { return nil }
        self.init(v)
    }

    /// Copies exactly 32 bytes; nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard let v = Bytes32(bytes) else { return nil }
        self.init(v)
    }

    public var hex: String { value.hex }
    public var bytes: [UInt8] { value.bytes }
}
