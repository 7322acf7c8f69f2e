internal import COpenSSL
public import Crypto

/// Birthmark key derivation: `HKDF-SHA256(ikm: master, salt: none, info: BE32(index) || "Birthmark", 32 bytes)`.
public enum KeyDerivation {
    /// Reference implementation on swift-crypto (used for cross-checks and single keys).
    public static func derivedKey(masterKey: Bytes32, keyIndex: Int) -> SymmetricKey {
        precondition((0..<BirthmarkProtocol.keysPerTable).contains(keyIndex), "key index out of range")
        var info = withUnsafeBytes(of: UInt32(keyIndex).bigEndian) { Array($0) }
        info += BirthmarkProtocol.hkdfInfoLabel
        return HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: masterKey.bytes),
            info: info,
            outputByteCount: 32
        )
    }

    /// Fast path: derives keys `first ..< first + count` of one table into `output` (32 bytes each).
    ///
    /// Two SHA-256 blocks per key on the system libcrypto (SHA-NI where the CPU has it),
    /// byte-for-byte equal to `derivedKey(masterKey:keyIndex:)`.
    public static func deriveKeys(masterKey: Bytes32, first: Int = 0, count: Int = BirthmarkProtocol.keysPerTable, into output: UnsafeMutableRawBufferPointer) {
        precondition(first >= 0 && count >= 0 && first + count <= BirthmarkProtocol.keysPerTable)
        precondition(output.count >= count * 32)
        withUnsafeBytes(of: masterKey) { master in
            sma_birthmark_derive_keys(
                master.baseAddress!.assumingMemoryBound(to: UInt8.self),
                UInt32(first), UInt32(count),
                output.baseAddress!.assumingMemoryBound(to: UInt8.self)
            )
        }
    }
}
