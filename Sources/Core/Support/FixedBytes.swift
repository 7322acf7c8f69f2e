/// 32 bytes held inline (no heap allocation), compared and hashed as four words.
public struct Bytes32: Hashable, Sendable {
    @usableFromInline var w0: UInt64 = 0
    @usableFromInline var w1: UInt64 = 0
    @usableFromInline var w2: UInt64 = 0
    @usableFromInline var w3: UInt64 = 0

    public static let byteCount = 32

    public init() {}

    /// Copies exactly 32 bytes; nil for any other length.
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        withUnsafeMutableBytes(of: &self) { $0.copyBytes(from: bytes) }
    }

    /// Parses exactly 64 hex digits.
    public init?(hex: some StringProtocol) {
        var value = Bytes32()
        let ok = withUnsafeMutableBytes(of: &value) { Hex.decode(utf8: hex.utf8, into: $0) }
        guard ok else { return nil }
        self = value
    }

    public var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }
    public var hex: String { withUnsafeBytes(of: self) { Hex.encode($0) } }

    public func hash(into hasher: inout Hasher) {
        // The words are uniformly random (hashes, keys); one word is plenty for bucketing.
        hasher.combine(w0 ^ w2)
    }
}

/// 16 bytes held inline (an AES-GCM tag).
public struct Bytes16: Hashable, Sendable {
    @usableFromInline var w0: UInt64 = 0
    @usableFromInline var w1: UInt64 = 0
    public static let byteCount = 16
    public init() {}
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        withUnsafeMutableBytes(of: &self) { $0.copyBytes(from: bytes) }
    }
    public init?(hex: some StringProtocol) {
        var value = Bytes16()
        guard withUnsafeMutableBytes(of: &value, { Hex.decode(utf8: hex.utf8, into: $0) }) else { return nil }
        self = value
    }
    public var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }
}

/// 12 bytes held inline (an AES-GCM nonce).
public struct Bytes12: Hashable, Sendable {
    @usableFromInline var w0: UInt64 = 0
    @usableFromInline var w1: UInt32 = 0
    public static let byteCount = 12
    public init() {}
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        withUnsafeMutableBytes(of: &self) { $0[0..<12].copyBytes(from: bytes) }
    }
    public init?(hex: some StringProtocol) {
        var value = Bytes12()
        guard withUnsafeMutableBytes(of: &value, { Hex.decode(utf8: hex.utf8, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<12])) }) else { return nil }
        self = value
    }
    public var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0[0..<12]) } }
}
