import Core
import NodeServices
import SMAPostgres
import Logging
import Foundation

/// Applies log changes to this node's tables, inside the caller's transaction: the same code on the leader (its
/// own writes) and on every replica (entries received from peers). Consecutive provisionings are inserted with
/// one statement (catch-up of 100,000 entries); call `finish()` after the last change.
final class SQLLogApplier: LogApplier {
    private let c: PostgresConnection
    private var devices: [(entry: LogEntry, device: LogChange.DeviceProvisioned)] = []

    init(_ c: PostgresConnection) { self.c = c }

    /// Applies `items` in order and flushes.
    static func apply(_ c: PostgresConnection, _ items: [(entry: LogEntry, change: LogChange)]) throws {
        let applier = SQLLogApplier(c)
        for item in items { try item.change.apply(to: applier, at: item.entry) }
        try applier.finish()
    }

    /// Writes what is still buffered (provisioned devices).
    ///
    /// A duplicate serial or NUC digest is found without a unique violation (a lookup, `ON CONFLICT DO NOTHING`, a count),
    /// so PostgreSQL never logs a `DETAIL: Key (...)=(...)` line with a device's value; the caller's transaction is
    /// then rolled back by the thrown conflict (docs/ARCHITECTURE.md §3.2).
    func finish() throws {
        guard !devices.isEmpty else { return }
        let run = devices
        devices.removeAll(keepingCapacity: true)
        let serials = run.map(\.device.serial)
        // NUC digests are unique: checked here, by the one writer holding the log_head row lock (the leader's write
        // and a replica's batch both take it first), against the hash index `devices_nuc_digest` (schema 7).
        let digests = run.map(\.device.nucDigest.bytes)
        let digestTaken = try Set(digests).count < digests.count
            || c.query("SELECT count(*) FROM devices WHERE nuc_digest = ANY(\(digests))").first!.decode(0, as: Int.self) > 0
        let inserted = digestTaken ? 0 : try c.query("""
            WITH ins AS (
                INSERT INTO devices (serial, nuc_digest, family, t0, t1, t2, provisioned_at, seq, provisioned_seq)
                SELECT s, n, f, a, b, t, to_timestamp(ms / 1000.0), q, q
                FROM unnest(\(serials), \(run.map(\.device.nucDigest.bytes)), \(run.map(\.device.family)),
                            \(run.map { $0.device.tableIDs[0] }), \(run.map { $0.device.tableIDs[1] }), \(run.map { $0.device.tableIDs[2] }),
                            \(run.map(\.entry.timestampMillis)), \(run.map(\.entry.seq)))
                     AS x(s, n, f, a, b, t, ms, q)
                ON CONFLICT DO NOTHING
                RETURNING 1)
            SELECT count(*) FROM ins
            """).first!.decode(0, as: Int.self)
        guard inserted == run.count else {
            // A serial conflict is named first, as before the NUC digest check moved out of the unique index.
            let serialTaken = try Set(serials.map { DeviceSerial(unchecked: $0) }).count < serials.count
                || c.query("SELECT count(*) FROM devices WHERE serial = ANY(\(serials)) AND seq <> ALL(\(run.map(\.entry.seq)))")
                    .first!.decode(0, as: Int.self) > 0
            throw serialTaken
                ? NodeError(.conflict, "a device with this serial is already provisioned", field: "device_serial")
                : NodeError(.conflict, "a device with this NUC hash is already provisioned", field: "nuc_hash")
        }
    }

    private func timestamp(_ e: LogEntry) -> PostgresTimestamp { PostgresTimestamp(microsecondsSince1970: e.timestampMillis * 1000) }

    func apply(_ change: LogChange.KeyTablesCreated, at e: LogEntry) throws {
        try finish()
        if let sealed = change.sealedNUCDigestKey {
            try Store.setMeta(c, Store.MetaKey.nucDigestKey, sealed)
        } else if try Store.meta(c, Store.MetaKey.nucDigestKey) == nil {
            // A log from before NUC digests (its entries hold raw NUC hashes): never stored here. The write region's
            // database is rewritten at its next start (NUCDigestMigration); this database then refills from it.
            throw LogError(.malformedPayload, seq: e.seq, "key tables without a NUC digest key: a log generation before NUC digests")
        }
        try c.query("""
            INSERT INTO key_tables (table_id, sealed_master_key, seq)
            SELECT id, k, \(e.seq) FROM unnest(\(change.tables.map(\.id)), \(change.tables.map(\.sealedMasterKey))) AS x(id, k)
            ON CONFLICT (table_id) DO UPDATE SET sealed_master_key = EXCLUDED.sealed_master_key, retired_at = NULL, seq = EXCLUDED.seq
            """)
    }

    func apply(_ change: LogChange.AuthorityInstalled, at e: LogEntry) throws {
        try finish()
        try c.query("""
            INSERT INTO authority (id, root_pem, intermediate_pem, seq) VALUES (1, \(change.rootPEM), \(change.intermediatePEM), \(e.seq))
            ON CONFLICT (id) DO UPDATE SET root_pem = EXCLUDED.root_pem, intermediate_pem = EXCLUDED.intermediate_pem, seq = EXCLUDED.seq
            """)
    }

    func apply(_ change: LogChange.DeviceProvisioned, at e: LogEntry) throws {
        devices.append((e, change))
    }

    func apply(_ change: LogChange.DeviceRevoked, at e: LogEntry) throws {
        try finish()
        try c.query("""
            UPDATE devices SET revoked = true, revocation_reason = \(change.reason), revoked_at = \(timestamp(e)), seq = \(e.seq)
            WHERE serial = \(change.serial)
            """)
    }

    func apply(_ change: LogChange.DeviceReinstated, at e: LogEntry) throws {
        try finish()
        try c.query("""
            UPDATE devices SET revoked = false, revocation_reason = NULL, revoked_at = NULL, seq = \(e.seq)
            WHERE serial = \(change.serial)
            """)
    }

    func apply(_ change: LogChange.APIKeyCreated, at e: LogEntry) throws {
        try finish()
        try c.query("""
            INSERT INTO api_keys (id, name, role, key_hash, created_at, expires_at, seq)
            VALUES (\(change.id), \(change.name), \(change.role.rawValue), \(change.keyHash.bytes), \(timestamp(e)),
                    \(change.expiresMillis.map { PostgresTimestamp(microsecondsSince1970: $0 * 1000) }), \(e.seq))
            """)
    }

    func apply(_ change: LogChange.APIKeyRevoked, at e: LogEntry) throws {
        try finish()
        let effective = change.effectiveMillis.map { PostgresTimestamp(microsecondsSince1970: $0 * 1000) } ?? timestamp(e)
        // A key already revoked earlier stays revoked from that earlier time.
        try c.query("""
            UPDATE api_keys SET revoked_at = LEAST(COALESCE(revoked_at, \(effective)), \(effective)), seq = \(e.seq) WHERE id = \(change.id)
            """)
    }

    func apply(_ change: LogChange.KeyTableRetired, at e: LogEntry) throws {
        try finish()
        let effective = PostgresTimestamp(microsecondsSince1970: change.effectiveMillis * 1000)
        // The first retirement of a table stands (in log order, so the same on every node).
        try c.query("UPDATE key_tables SET retired_at = \(effective), seq = \(e.seq) WHERE table_id = \(change.id) AND retired_at IS NULL")
    }

    func apply(_ change: LogChange.CRLIssued, at e: LogEntry) throws {
        try finish()
        try c.query("""
            INSERT INTO crl (id, number, this_update, next_update, der, seq)
            VALUES (1, \(change.number), \(PostgresTimestamp(microsecondsSince1970: change.thisUpdateMillis * 1000)),
                    \(PostgresTimestamp(microsecondsSince1970: change.nextUpdateMillis * 1000)), \(change.der), \(e.seq))
            ON CONFLICT (id) DO UPDATE SET number = EXCLUDED.number, this_update = EXCLUDED.this_update,
                next_update = EXCLUDED.next_update, der = EXCLUDED.der, seq = EXCLUDED.seq
            """)
    }

    func apply(_ change: LogChange.NodeRevoked, at e: LogEntry) throws {
        try finish()
        try c.query("""
            INSERT INTO revoked_nodes (node_id, reason, revoked_at, seq) VALUES (\(change.nodeID), \(change.reason), \(timestamp(e)), \(e.seq))
            ON CONFLICT (node_id) DO NOTHING
            """)
        // A revoked node never holds the lease again (see Store.acquireLease).
        try c.query("UPDATE leader_lease SET expires_at = now() WHERE holder = \(change.nodeID)")
    }
}
