/// A legacy camera token (docs/ARCHITECTURE.md §1.3): one sealed NUC hash and three (table, key index) candidates,
/// only one of which the camera used.
///
/// Each candidate is the sealed bytes paired with one (table, key index); `Registry.validate(_: LegacyCameraToken)`
/// tries them in order, at most three AES-GCM opens.
public struct LegacyCameraToken: Sendable, Equatable, CustomStringConvertible {
    /// The packed length: `ciphertext(32) || nonce(12) || auth_tag(16)`.
    public static let packedByteCount = 60
    /// Candidates per token (the camera's three tables).
    public static let candidateCount = 3

    public var candidates: [CameraToken]

    /// Splits the 60 packed bytes; nil for any other length.
    public init?(packed: some Collection<UInt8>, pairs: [(tableID: Int, keyIndex: Int)]) {
        let b = Array(packed)
        guard b.count == Self.packedByteCount,
              let ct = Bytes32(b[0..<32]), let nonce = Bytes12(b[32..<44]), let tag = Bytes16(b[44..<60]) else { return nil }
        candidates = pairs.map { CameraToken(ciphertext: ct, authTag: tag, nonce: nonce, tableID: $0.tableID, keyIndex: $0.keyIndex) }
    }

    /// Never prints the token's bytes.
    public var description: String {
        "LegacyCameraToken(\(candidates.map { "table: \($0.tableID), key: \($0.keyIndex)" }.joined(separator: "; ")))"
    }
}
