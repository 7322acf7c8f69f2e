import Core
import Foundation
import Logging
import SMAPostgres
import Replication

/// All SQL of the node. Functions take a connection (called inside `PostgresPool.withConnection`).
enum Store {
    // MARK: meta and secrets

    static func meta(_ c: PostgresConnection, _ key: String) throws -> [UInt8]? {
        try c.query("SELECT value FROM sma_meta WHERE key = \(key)").first?.decode(0, as: [UInt8].self)
    }

    static func setMeta(_ c: PostgresConnection, _ key: String, _ value: [UInt8]) throws {
        try c.query("INSERT INTO sma_meta (key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    }

    static func sealedSecret(_ c: PostgresConnection, _ name: String) throws -> [UInt8]? {
        try c.query("SELECT sealed FROM sealed_secrets WHERE name = \(name)").first?.decode(0, as: [UInt8].self)
    }

    static func putSealedSecret(_ c: PostgresConnection, _ name: String, _ sealed: [UInt8]) throws {
        try c.query("INSERT INTO sealed_secrets (name, sealed) VALUES (\(name), \(sealed)) ON CONFLICT (name) DO UPDATE SET sealed = EXCLUDED.sealed, created_at = now()")
    }

    /// True once `sma-node init` has stored keys here.
    static func isInitialized(_ c: PostgresConnection) throws -> Bool {
        let exists = try c.query("SELECT to_regclass('public.sma_meta') IS NOT NULL").first?.decode(0, as: Bool.self) ?? false
        guard exists else { return false }
        return try meta(c, MetaKey.kekCheck) != nil
    }

    enum MetaKey {
        static let kekCheck = "kek_check"
        static let logPublicKey = "log_public_key"
        static let manufacturer = "manufacturer"
    }

    enum SecretName {
        static let logSigningKey = "log_signing_key"
        static let rootCAKey = "ca_root_key"
        static let intermediateCAKey = "ca_intermediate_key"
    }

    /// Verifies that `kek` is the KEK this database was initialized with.
    static func checkKEK(_ c: PostgresConnection, _ kek: KeyEncryptionKey) throws {
        guard let sealed = try meta(c, MetaKey.kekCheck) else {
            throw NodeError(.notInitialized, "database is not initialized: run `sma-node init --config FILE` first")
        }
        do { _ = try kek.open(sealed, label: MetaKey.kekCheck) } catch {
            throw NodeError(.wrongKEK, "the key-encryption key in kek_file (fingerprint \(kek.fingerprint)) is not the one this database was initialized with")
        }
    }

    // MARK: the log

    /// Proof that the writer holds the lease; re-checked inside every write transaction.
    typealias Fence = LeaseStateMachine.Fence

    /// Appends `changes` as consecutive signed entries and applies them to the tables, in the caller's transaction.
    ///
    /// Locks `log_head` (serializing writers, so seqs are gapless) and, with a fence, the lease row,
    /// failing with `.notLeader` if the lease is no longer ours at this epoch.
    /// `audit` records who asked for the changes in `audit_log`, in this same transaction: if the audit rows
    /// cannot be stored, the whole write fails.
    static func append(_ c: PostgresConnection, _ changes: [LogChange], signer: LogSigner, fence: Fence?, kek: KeyEncryptionKey,
                       audit: AuditActor?) throws -> [LogEntry] {
        precondition(!changes.isEmpty)
        var epoch: Int64 = 0
        if let fence {
            let ok = try c.query("""
                SELECT epoch FROM leader_lease
                WHERE id = 1 AND holder = \(fence.holder) AND epoch = \(fence.epoch) AND expires_at > now()
                FOR SHARE
                """)
            guard ok.count == 1 else {
                throw NodeError(.notLeader, "this node no longer holds the leader lease (epoch \(fence.epoch)); the write was not committed")
            }
            epoch = fence.epoch
        }
        let head = try c.query("UPDATE log_head SET seq = seq + \(changes.count) WHERE id = 1 RETURNING seq, hash").first!
        let last = try head.decode(0, as: Int64.self)
        let first = last - Int64(changes.count) + 1
        let nowMillis = Int64(Date().timeIntervalSince1970 * 1000)
        let entries = signer.signChain(changes, firstSeq: first, previousHash: try head.decode(1, as: [UInt8].self),
                                       epoch: epoch, timestampMillis: nowMillis)
        try c.query("UPDATE log_head SET hash = \(entries.last!.hash) WHERE id = 1")
        try insertEntries(c, entries)
        try applyChanges(c, Array(zip(entries, changes)))
        if let audit { try insertAudit(c, audit, Array(zip(entries, changes))) }
        return entries
    }

    static func insertEntry(_ c: PostgresConnection, _ e: LogEntry) throws {
        try c.query("""
            INSERT INTO registration_log (seq, previous_hash, epoch, created_ms, kind, payload, signature)
            VALUES (\(e.seq), \(e.previousHash), \(e.epoch), \(e.timestampMillis), \(e.kind.rawValue), \(e.payload), \(e.signature))
            """)
    }

    /// The table writes of one change: the same code on the leader and on every replica.
    static func applyToTables(_ c: PostgresConnection, _ e: LogEntry, _ change: LogChange) throws {
        let at = PostgresTimestamp(microsecondsSince1970: e.timestampMillis * 1000)
        switch change {
        case .keyTablesCreated(let v):
            for t in v.tables {
                guard let sealed = Hex.decode(t.sealedMasterKey) else {
                    throw LogError(.malformedPayload, seq: e.seq, "sealed master key is not hex")
                }
                try c.query("""
                    INSERT INTO key_tables (table_id, sealed_master_key, seq) VALUES (\(t.id), \(sealed), \(e.seq))
                    ON CONFLICT (table_id) DO UPDATE SET sealed_master_key = EXCLUDED.sealed_master_key, retired_at = NULL, seq = EXCLUDED.seq
                    """)
            }
        case .authorityInstalled(let v):
            try c.query("""
                INSERT INTO authority (id, root_pem, intermediate_pem, seq) VALUES (1, \(v.rootPEM), \(v.intermediatePEM), \(e.seq))
                ON CONFLICT (id) DO UPDATE SET root_pem = EXCLUDED.root_pem, intermediate_pem = EXCLUDED.intermediate_pem, seq = EXCLUDED.seq
                """)
        case .deviceProvisioned(let d):
            guard let nuc = Hex.decode(d.nucHash), nuc.count == 32, d.tableIDs.count == 3 else {
                throw LogError(.malformedPayload, seq: e.seq, "device registration is malformed")
            }
            try c.query("""
                INSERT INTO devices (serial, nuc_hash, family, t0, t1, t2, certificate_pem, public_key_pem, provisioned_at, seq)
                VALUES (\(d.serial), \(nuc), \(d.family), \(d.tableIDs[0]), \(d.tableIDs[1]), \(d.tableIDs[2]),
                        \(d.certificatePEM), \(d.publicKeyPEM), \(at), \(e.seq))
                """)
        case .deviceRevoked(let r):
            try c.query("""
                UPDATE devices SET revoked = true, revocation_reason = \(r.reason), revoked_at = \(at), seq = \(e.seq)
                WHERE serial = \(r.serial)
                """)
        case .deviceReinstated(let r):
            try c.query("""
                UPDATE devices SET revoked = false, revocation_reason = NULL, revoked_at = NULL, seq = \(e.seq)
                WHERE serial = \(r.serial)
                """)
        case .apiKeyCreated(let k):
            guard let hash = Hex.decode(k.keyHash), hash.count == 32 else {
                throw LogError(.malformedPayload, seq: e.seq, "api key hash is malformed")
            }
            try c.query("""
                INSERT INTO api_keys (id, name, role, key_hash, created_at, seq)
                VALUES (\(k.id), \(k.name), \(k.role.rawValue), \(hash), \(at), \(e.seq))
                """)
        case .apiKeyRevoked(let k):
            try c.query("UPDATE api_keys SET revoked_at = \(at), seq = \(e.seq) WHERE id = \(k.id)")
        case .keyTableRetired(let r):
            let effective = PostgresTimestamp(microsecondsSince1970: r.effectiveMillis * 1000)
            // The first retirement of a table stands (in log order, so the same on every node).
            try c.query("UPDATE key_tables SET retired_at = \(effective), seq = \(e.seq) WHERE table_id = \(r.id) AND retired_at IS NULL")
        case .crlIssued(let v):
            guard let der = Data(base64Encoded: v.der) else { throw LogError(.malformedPayload, seq: e.seq, "CRL is not base64") }
            try c.query("""
                INSERT INTO crl (id, number, this_update, next_update, der, seq)
                VALUES (1, \(v.number), \(PostgresTimestamp(microsecondsSince1970: v.thisUpdateMillis * 1000)),
                        \(PostgresTimestamp(microsecondsSince1970: v.nextUpdateMillis * 1000)), \(Array(der)), \(e.seq))
                ON CONFLICT (id) DO UPDATE SET number = EXCLUDED.number, this_update = EXCLUDED.this_update,
                    next_update = EXCLUDED.next_update, der = EXCLUDED.der, seq = EXCLUDED.seq
                """)
        }
    }

    static func logHead(_ c: PostgresConnection) throws -> Int64 {
        try c.query("SELECT seq FROM log_head WHERE id = 1").first!.decode(0, as: Int64.self)
    }

    /// Entries with seq > `after`, in order, at most `limit`.
    static func entries(_ c: PostgresConnection, after: Int64, limit: Int) throws -> [LogEntry] {
        try c.query("""
            SELECT seq, epoch, created_ms, kind, payload, signature, previous_hash FROM registration_log
            WHERE seq > \(after) ORDER BY seq LIMIT \(limit)
            """).map { row in
            let kindRaw = try row.decode(3, as: String.self)
            guard let kind = LogEntryKind(rawValue: kindRaw) else {
                throw NodeError(.internal, "registration_log holds an unknown entry kind")
            }
            return LogEntry(seq: try row.decode(0), previousHash: try row.decode(6), epoch: try row.decode(1), timestampMillis: try row.decode(2),
                            kind: kind, payload: try row.decode(4), signature: try row.decode(5))
        }
    }

    // MARK: leader lease

    /// Takes or renews the lease for `holder`; returns the epoch when held, nil when another node holds it.
    /// A takeover (holder changes or the lease had lapsed) increments the epoch.
    static func acquireLease(_ c: PostgresConnection, holder: String, ttlSeconds: Double) throws -> Int64? {
        try c.query("""
            UPDATE leader_lease SET
                epoch = CASE WHEN holder = \(holder) AND expires_at > now() THEN epoch ELSE epoch + 1 END,
                holder = \(holder),
                expires_at = now() + make_interval(secs => \(ttlSeconds))
            WHERE id = 1 AND (holder IS NULL OR holder = \(holder) OR expires_at <= now())
            RETURNING epoch
            """).first?.decode(0, as: Int64.self)
    }

    struct LeaseInfo: Sendable {
        var holder: String?
        var epoch: Int64
        var secondsLeft: Double
    }

    static func lease(_ c: PostgresConnection) throws -> LeaseInfo {
        let row = try c.query("""
            SELECT holder, epoch, COALESCE(EXTRACT(EPOCH FROM (expires_at - now()))::float8, 0) FROM leader_lease WHERE id = 1
            """).first!
        return LeaseInfo(holder: try row.decode(0), epoch: try row.decode(1), secondsLeft: try row.decode(2))
    }

    static func releaseLease(_ c: PostgresConnection, holder: String) throws {
        try c.query("UPDATE leader_lease SET expires_at = now() WHERE id = 1 AND holder = \(holder)")
    }
}
