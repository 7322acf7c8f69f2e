public import Crypto

/// Signs log entries with the cluster's log-signing key (leader-eligible nodes only).
public struct LogSigner: Sendable {
    private let key: Curve25519.Signing.PrivateKey

    public init(privateKey: Curve25519.Signing.PrivateKey) { key = privateKey }

    /// A new random signing key.
    public static func generate() -> LogSigner { LogSigner(privateKey: .init()) }

    public var rawPrivateKey: [UInt8] { Array(key.rawRepresentation) }
    public var verifier: LogVerifier { LogVerifier(publicKey: key.publicKey) }

    /// Builds and signs the entry for `change` at `seq`, chained to `previousHash`.
    public func sign(_ change: LogChange, seq: Int64, previousHash: [UInt8] = LogEntry.genesisHash, epoch: Int64, timestampMillis: Int64) -> LogEntry {
        var entry = LogEntry(seq: seq, previousHash: previousHash, epoch: epoch, timestampMillis: timestampMillis,
                             kind: change.kind, payload: change.encodedPayload())
        entry.signature = Array(try! key.signature(for: entry.signedBytes))
        return entry
    }

    /// Signs `entry` as it is (seq, previous hash, epoch, time, kind and payload): for a log rewritten in place.
    public func sign(_ entry: LogEntry) -> LogEntry {
        var entry = entry
        entry.signature = Array(try! key.signature(for: entry.signedBytes))
        return entry
    }

    /// Signs consecutive changes starting at `firstSeq`, each chained to the one before.
    public func signChain(_ changes: [LogChange], firstSeq: Int64, previousHash: [UInt8], epoch: Int64, timestampMillis: Int64) -> [LogEntry] {
        var prev = previousHash
        return changes.enumerated().map { i, change in
            let e = sign(change, seq: firstSeq + Int64(i), previousHash: prev, epoch: epoch, timestampMillis: timestampMillis)
            prev = e.hash
            return e
        }
    }
}

/// Verifies log entries; every node does this before applying anything.
public struct LogVerifier: Sendable {
    public let publicKey: Curve25519.Signing.PublicKey

    public init(publicKey: Curve25519.Signing.PublicKey) { self.publicKey = publicKey }

    public init(rawPublicKey: [UInt8]) throws(AuthorityError) {
        do { publicKey = try .init(rawRepresentation: rawPublicKey) } catch {
            throw AuthorityError(.malformedKey, "log verification key is not a 32-byte Ed25519 public key")
        }
    }

}

extension LogVerifier {
    /// Checks the signature, then decodes the change.
    public func verify(_ entry: LogEntry) throws(LogError) -> LogChange {
        guard entry.signature.count == 64, publicKey.isValidSignature(entry.signature, for: entry.signedBytes) else {
            throw LogError(.badSignature, seq: entry.seq, "signature does not verify with the cluster log key")
        }
        do { return try entry.change() } catch { throw LogError(.malformedPayload, seq: entry.seq, error.reason) }
    }
}
