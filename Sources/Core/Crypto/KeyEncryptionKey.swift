import Crypto

/// The key-encryption key (KEK): seals master keys, CA keys and the log-signing key at rest.
///
/// It stands in for an HSM: nodes read it from a file. Each sealed value is bound to a
/// label (its purpose and id) as AES-GCM associated data, so ciphertexts cannot be swapped.
public struct KeyEncryptionKey: Sendable {
    private let key: SymmetricKey

    /// Parses a KEK file's contents: 64 hex digits (surrounding whitespace ignored).
    public init(fileContents: String) throws(AuthorityError) {
        let trimmed = fileContents.filter { !$0.isWhitespace }
        guard let bytes = Hex.decode(trimmed), bytes.count == 32 else {
            throw AuthorityError(.malformedKey, "key-encryption key file must hold 64 hex digits (32 bytes)")
        }
        key = SymmetricKey(data: bytes)
    }

    /// A new random KEK.
    public static func generate() -> (kek: KeyEncryptionKey, fileContents: String) {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let text = Hex.encode(bytes) + "\n"
        return (try! KeyEncryptionKey(fileContents: text), text)
    }

    /// A short public identifier of this KEK (not reversible), for "wrong KEK" diagnostics.
    public var fingerprint: String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("sma-kek-fingerprint".utf8), using: key)
        return Hex.encode(Array(mac).prefix(8))
    }

    /// nonce || ciphertext || tag.
    public func seal(_ plaintext: [UInt8], label: String) -> [UInt8] {
        let box = try! AES.GCM.seal(plaintext, using: key, authenticating: Self.aad(label))
        return Array(box.combined!)
    }

    /// Opens a value sealed with `seal(_:label:)`; fails when the KEK or the label differ.
    public func open(_ sealed: [UInt8], label: String) throws(AuthorityError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: Self.aad(label)))
        } catch {
            throw AuthorityError(.decryptionFailed,
                "cannot decrypt \(label) with key-encryption key \(fingerprint): wrong KEK file for this database?")
        }
    }

    private static func aad(_ label: String) -> [UInt8] { Array("sma-kek-v1:\(label)".utf8) }
}
