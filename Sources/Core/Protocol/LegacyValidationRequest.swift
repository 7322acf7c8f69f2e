#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The legacy `/validate` and `/validate-legacy` body, exactly as today's aggregator sends a camera-pi token
/// (docs/ARCHITECTURE.md §1.3).
///
/// `ciphertext` is hex of the 60 packed bytes `ciphertext(32) || nonce(12) || auth_tag(16)` (120 digits), or hex of the
/// UTF-8 bytes of their base64 text (160 digits, what camera-pi and the aggregator send).
public struct LegacyValidationRequest: Codable, Sendable {
    public var ciphertext: String
    public var table_references: [Int]
    public var key_indices: [Int]

    public init(ciphertext: String, table_references: [Int], key_indices: [Int]) {
        self.ciphertext = ciphertext
        self.table_references = table_references
        self.key_indices = key_indices
    }

    /// Checks every field's shape (errors name the field, never echo its value).
    public func legacyToken(tableCount: Int) throws(InputError) -> LegacyCameraToken {
        let n = LegacyCameraToken.candidateCount
        guard let packed = Self.packedBytes(ciphertext) else {
            throw InputError(field: "ciphertext",
                             "must be 120 hex digits (the 60 packed bytes) or 160 hex digits (the UTF-8 bytes of their base64 text)")
        }
        guard table_references.count == n else {
            throw InputError(field: "table_references", "must be an array of exactly \(n) table ids")
        }
        guard key_indices.count == n else {
            throw InputError(field: "key_indices", "must be an array of exactly \(n) key indices")
        }
        for (i, t) in table_references.enumerated() where t < 0 || t >= tableCount {
            throw InputError(field: "table_references[\(i)]", "must be an integer from 0 to \(tableCount - 1)")
        }
        for (i, k) in key_indices.enumerated() where k < 0 || k >= BirthmarkProtocol.keysPerTable {
            throw InputError(field: "key_indices[\(i)]", "must be an integer from 0 to \(BirthmarkProtocol.keysPerTable - 1)")
        }
        let pairs = zip(table_references, key_indices).map { (tableID: $0, keyIndex: $1) }
        // The length was checked by packedBytes.
        return LegacyCameraToken(packed: packed, pairs: pairs)!
    }

    /// The 60 packed bytes from either encoding, or nil. Base64 is the standard alphabet, padded, nothing else.
    static func packedBytes(_ hex: String) -> [UInt8]? {
        let count = LegacyCameraToken.packedByteCount
        switch hex.utf8.count {
        case count * 2:
            return Hex.decode(hex)
        case (count + 2) / 3 * 4 * 2:
            guard let text = Hex.decode(hex), let decoded = Data(base64Encoded: Data(text)), decoded.count == count else { return nil }
            return Array(decoded)
        default:
            return nil
        }
    }
}
