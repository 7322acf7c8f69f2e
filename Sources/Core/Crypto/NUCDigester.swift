internal import COpenSSL

/// HMAC-SHA256 of NUC hashes under the cluster's NUC digest key (docs/ARCHITECTURE.md §3.2), on the validation path.
///
/// The key's HMAC schedule (the SHA-256 states after the inner and outer padded key blocks) is computed once, so a
/// digest costs two SHA-256 blocks on the system libcrypto, byte-for-byte equal to swift-crypto's `HMAC<SHA256>`
/// (a test checks it on random inputs). The schedule is wiped when the digester is released.
public final class NUCDigester: @unchecked Sendable {
    // @unchecked: `schedule` is written only inside `init` and read-only afterwards.
    private let schedule: UnsafeMutablePointer<sma_hmac_sha256_state>
    /// The KEK label the digest key is sealed under (in the log and in `sma_meta`).
    public static let keyLabel = "nuc_digest_key"

    /// The digest key: 32 random bytes, sealed under the KEK with the label `nuc_digest_key`.
    public init(key: Bytes32) {
        schedule = .allocate(capacity: 1)
        var key = key
        withUnsafeBytes(of: &key) { k in
            sma_hmac_sha256_init(schedule, k.baseAddress!.assumingMemoryBound(to: UInt8.self), 32)
        }
        withUnsafeMutableBytes(of: &key) { TokenCipher.cleanse($0.baseAddress!, count: $0.count) }
    }

    deinit {
        TokenCipher.cleanse(schedule, count: MemoryLayout<sma_hmac_sha256_state>.size)
        schedule.deallocate()
    }

    /// The digest of `nuc` (no allocation).
    @inline(__always)
    public func digest(_ nuc: NUCHash) -> NUCDigest {
        var input = nuc.value
        var out = Bytes32()
        withUnsafeBytes(of: &input) { i in
            withUnsafeMutableBytes(of: &out) { o in
                sma_hmac_sha256_32(schedule, i.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                   o.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return NUCDigest(out)
    }
}
