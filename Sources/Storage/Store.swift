package import Core
package import NodeServices
package import SMAPostgres
import Logging
import Crypto
import Foundation
import X509
import SwiftASN1

/// All SQL of the node. Functions take a connection (called inside `PostgresPool.withConnection`).
package enum Store {
    // MARK: meta and secrets

    package static func meta(_ c: PostgresConnection, _ key: String) throws -> [UInt8]? {
        try c.query("SELECT value FROM sma_meta WHERE key = \(key)").first?.decode(0, as: [UInt8].self)
    }

    package static func setMeta(_ c: PostgresConnection, _ key: String, _ value: [UInt8]) throws {
        try c.query("INSERT INTO sma_meta (key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    }

    package static func sealedSecret(_ c: PostgresConnection, _ name: String) throws -> [UInt8]? {
        try c.query("SELECT sealed FROM sealed_secrets WHERE name = \(name)").first?.decode(0, as: [UInt8].self)
    }

    package static func putSealedSecret(_ c: PostgresConnection, _ name: String, _ sealed: [UInt8]) throws {
        try c.query("INSERT INTO sealed_secrets (name, sealed) VALUES (\(name), \(sealed)) ON CONFLICT (name) DO UPDATE SET sealed = EXCLUDED.sealed, created_at = now()")
    }

    /// True once `sma-node init` has stored keys here.
    package static func isInitialized(_ c: PostgresConnection) throws -> Bool {
        let exists = try c.query("SELECT to_regclass('public.sma_meta') IS NOT NULL").first?.decode(0, as: Bool.self) ?? false
        guard exists else { return false }
        return try meta(c, MetaKey.kekCheck) != nil
    }

    package enum MetaKey {
        package static let kekCheck = "kek_check"
        package static let logPublicKey = "log_public_key"
        package static let manufacturer = "manufacturer"
        /// The cluster's NUC digest key, sealed under the KEK (label `nuc_digest_key`), as the log carried it.
        package static let nucDigestKey = "nuc_digest_key"
    }

    package enum SecretName {
        package static let logSigningKey = "log_signing_key"
        package static let rootCAKey = "ca_root_key"
        package static let intermediateCAKey = "ca_intermediate_key"
    }

    /// Verifies that `kek` is the KEK this database was initialized with.
    package static func checkKEK(_ c: PostgresConnection, _ kek: KeyEncryptionKey) throws {
        guard let sealed = try meta(c, MetaKey.kekCheck) else {
            throw NodeError(.notInitialized, "database is not initialized: run `sma-node init --config FILE` first")
        }
        do { _ = try kek.open(sealed, label: MetaKey.kekCheck) } catch {
            throw NodeError(.wrongKEK, "the key-encryption key in kek_file (fingerprint \(kek.fingerprint)) is not the one this database was initialized with")
        }
    }

    // MARK: the log


    /// Appends `changes` as consecutive signed entries and applies them to the tables, in the caller's transaction.
    ///
    /// Locks `log_head` (serializing writers, so seqs are gapless) and then, with a fence, the lease row (FOR SHARE),
    /// failing with `.notLeader` if the lease is no longer ours at this epoch.
    /// `audit` records who asked for the changes in `audit_log`, in this same transaction: if the audit rows
    /// cannot be stored, the whole write fails.
    package static func append(_ c: PostgresConnection, _ changes: [LogChange], signer: LogSigner, fence: LeaseStateMachine.Fence?,
                       audit: AuditActor?) throws -> [LogEntry] {
        precondition(!changes.isEmpty)
        // log_head first: it serializes writers, so at most one write at a time holds the lease row FOR SHARE. The
        // other way round, every writer queued for log_head held a share lock on the lease row, and under sustained
        // concurrent writes the lease renewal's UPDATE of that row waited behind them until the lease ran out.
        // The lease is compared with clock_timestamp(), not now(): this transaction may have waited for log_head.
        let head = try c.query("UPDATE log_head SET seq = seq + \(changes.count) WHERE id = 1 RETURNING seq, hash").first!
        var epoch: Int64 = 0
        if let fence {
            let ok = try c.query("""
                SELECT epoch FROM leader_lease
                WHERE id = 1 AND holder = \(fence.holder) AND epoch = \(fence.epoch) AND expires_at > clock_timestamp()
                  AND NOT EXISTS (SELECT 1 FROM revoked_nodes WHERE node_id = \(fence.holder))
                FOR SHARE
                """)
            guard ok.count == 1 else {
                throw NodeError(.notLeader, "this node no longer holds the leader lease (epoch \(fence.epoch)); the write was not committed")
            }
            epoch = fence.epoch
        }
        let last = try head.decode(0, as: Int64.self)
        let first = last - Int64(changes.count) + 1
        let nowMillis = Int64(Date().timeIntervalSince1970 * 1000)
        let entries = signer.signChain(changes, firstSeq: first, previousHash: try head.decode(1, as: [UInt8].self),
                                       epoch: epoch, timestampMillis: nowMillis)
        try c.query("UPDATE log_head SET hash = \(entries.last!.hash) WHERE id = 1")
        try insertEntries(c, entries)
        try SQLLogApplier.apply(c, Array(zip(entries, changes)).map { (entry: $0.0, change: $0.1) })
        if let audit { try insertAudit(c, audit, Array(zip(entries, changes))) }
        return entries
    }



    package static func logHead(_ c: PostgresConnection) throws -> Int64 {
        try c.query("SELECT seq FROM log_head WHERE id = 1").first!.decode(0, as: Int64.self)
    }

    /// Entries with seq > `after`, in order, at most `limit`.
    package static func entries(_ c: PostgresConnection, after: Int64, limit: Int) throws -> [LogEntry] {
        try c.query("""
            SELECT seq, epoch, created_ms, kind::int, payload, signature, previous_hash FROM registration_log
            WHERE seq > \(after) ORDER BY seq LIMIT \(limit)
            """).map { row in
            let code = try row.decode(3, as: Int.self)
            guard let kind = LogEntryKind(storageCode: code) else {
                throw NodeError(.internal, "registration_log entry \(try row.decode(0, as: Int64.self)) has kind \(code), which this version does not know")
            }
            return LogEntry(seq: try row.decode(0), previousHash: try row.decode(6), epoch: try row.decode(1), timestampMillis: try row.decode(2),
                            kind: kind, payload: try row.decode(4), signature: try row.decode(5))
        }
    }

    // MARK: leader lease

    /// Takes or renews the lease for `holder`; returns the epoch when held, nil when another node holds it or
    /// `holder` is a revoked node.
    /// A takeover (holder changes or the lease had lapsed) increments the epoch.
    package static func acquireLease(_ c: PostgresConnection, holder: String, ttlSeconds: Double) throws -> Int64? {
        try c.query("""
            UPDATE leader_lease SET
                epoch = CASE WHEN holder = \(holder) AND expires_at > now() THEN epoch ELSE epoch + 1 END,
                holder = \(holder),
                expires_at = now() + make_interval(secs => \(ttlSeconds))
            WHERE id = 1 AND (holder IS NULL OR holder = \(holder) OR expires_at <= now())
              AND NOT EXISTS (SELECT 1 FROM revoked_nodes WHERE node_id = \(holder))
            RETURNING epoch
            """).first?.decode(0, as: Int64.self)
    }


    package static func lease(_ c: PostgresConnection) throws -> LeaseInfo {
        let row = try c.query("""
            SELECT holder, epoch, COALESCE(EXTRACT(EPOCH FROM (expires_at - now()))::float8, 0) FROM leader_lease WHERE id = 1
            """).first!
        return LeaseInfo(holder: try row.decode(0), epoch: try row.decode(1), secondsLeft: try row.decode(2))
    }

    package static func releaseLease(_ c: PostgresConnection, holder: String) throws {
        try c.query("UPDATE leader_lease SET expires_at = now() WHERE id = 1 AND holder = \(holder)")
    }

    // MARK: keys

    /// The log-signing key and the CA (with its intermediate key), unsealed with the KEK.
    package static func writerKeys(_ c: PostgresConnection, kek: KeyEncryptionKey) throws -> (LogSigner, CertificateAuthority) {
        guard let sealedLog = try sealedSecret(c, SecretName.logSigningKey),
              let sealedInter = try sealedSecret(c, SecretName.intermediateCAKey),
              let certs = try authorityCertificates(c) else {
            throw NodeError(.notInitialized, "database lacks the log-signing key or CA: run `sma-node init`")
        }
        let signer = LogSigner(privateKey: try Curve25519.Signing.PrivateKey(
            rawRepresentation: try kek.open(sealedLog, label: SecretName.logSigningKey)))
        let interKey = try P256.Signing.PrivateKey(rawRepresentation: try kek.open(sealedInter, label: SecretName.intermediateCAKey))
        let authority = try CertificateAuthority(root: try Certificate(pemEncoded: certs.rootPEM),
                                                 intermediate: try Certificate(pemEncoded: certs.intermediatePEM),
                                                 intermediateKey: interKey)
        return (signer, authority)
    }

    /// The log-signing key alone (operator commands that write to the authoritative database).
    package static func logSigner(_ c: PostgresConnection, kek: KeyEncryptionKey) throws -> LogSigner {
        guard let sealed = try sealedSecret(c, SecretName.logSigningKey) else {
            throw NodeError(.notInitialized, "this database has no log-signing key; API keys are created on the write region's database")
        }
        return LogSigner(privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: try kek.open(sealed, label: SecretName.logSigningKey)))
    }
}
