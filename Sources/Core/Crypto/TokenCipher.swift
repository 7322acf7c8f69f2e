internal import COpenSSL

/// The AES-256-GCM open of a camera token, on the system libcrypto (the hot path).
public enum TokenCipher {
    /// Result of opening a token.
    public enum OpenResult: Sendable, Equatable {
        /// The tag verified; the plaintext is the device's NUC hash.
        case opened(NUCHash)
        /// The tag did not verify under this key.
        case authenticationFailed
    }

    /// Opens `token` with the 32-byte derived key at `key`.
    @inline(__always)
    public static func open(_ token: CameraToken, key: UnsafeRawPointer) -> OpenResult {
        var plaintext = Bytes32()
        var token = token
        let rc = withUnsafeMutableBytes(of: &plaintext) { out in
            withUnsafeBytes(of: &token.nonce) { nonce in
                withUnsafeBytes(of: &token.ciphertext) { ct in
                    withUnsafeBytes(of: &token.authTag) { tag in
                        sma_gcm_open32(
                            key.assumingMemoryBound(to: UInt8.self),
                            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            ct.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            tag.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            out.baseAddress!.assumingMemoryBound(to: UInt8.self)
                        )
                    }
                }
            }
        }
        // -1 (an OpenSSL failure) cannot authenticate anything: treat as a failed tag.
        return rc == 1 ? .opened(NUCHash(plaintext)) : .authenticationFailed
    }

    /// Overwrites `count` bytes at `pointer` in a way the optimizer keeps.
    public static func cleanse(_ pointer: UnsafeMutableRawPointer, count: Int) {
        sma_cleanse(pointer, count)
    }
}
