import Core
package import NodeServices
package import SMAPostgres
import Logging
import Foundation

extension Store {



    package static func crl(_ c: PostgresConnection) throws -> StoredCRL? {
        try c.query("""
            SELECT number, (EXTRACT(EPOCH FROM this_update) * 1000)::bigint, (EXTRACT(EPOCH FROM next_update) * 1000)::bigint, der
            FROM crl WHERE id = 1
            """).first.map {
            StoredCRL(number: try $0.decode(0), thisUpdateMillis: try $0.decode(1), nextUpdateMillis: try $0.decode(2), der: try $0.decode(3))
        }
    }

    /// Reads the snapshot (REPEATABLE READ), streaming devices straight into the index.
    package static func snapshot(_ c: PostgresConnection, progress: (Int) -> Void = { _ in }) throws -> StoreSnapshot {
        try c.transaction(isolation: .repeatableRead) { c in
            let head = try logHead(c)
            let tables = try keyTables(c)
            let authority = try authorityCertificates(c)
            let keys = try c.query("""
                SELECT id, name, role, key_hash, (EXTRACT(EPOCH FROM LEAST(expires_at, revoked_at)) * 1000)::bigint FROM api_keys
                WHERE (revoked_at IS NULL OR revoked_at > now()) AND (expires_at IS NULL OR expires_at > now())
                """).map { row in
                let role = Role(rawValue: try row.decode(2, as: String.self)) ?? .validator
                return (hash: Bytes32(try row.decode(3, as: [UInt8].self))!,
                        principal: Principal(keyID: try row.decode(0), name: try row.decode(1), role: role),
                        notAfterMillis: try row.decode(4, as: Int64?.self))
            }
            // Pre-size the index from the planner's row estimate (no second scan of the table: count(*) read all of
            // it); an estimate that is off only means the index grows while loading.
            let estimate = try c.query("SELECT reltuples::bigint FROM pg_class WHERE oid = 'devices'::regclass")
                .first?.decode(0, as: Int64.self) ?? 0
            var index = DeviceIndex()
            index.reserveCapacity(Int(max(estimate, 0)))
            var loaded = 0
            // Straight from the row's bytes into the index's flat storage: no String, array or device value per row.
            try c.forEachRow("SELECT serial, nuc_digest, t0, t1, t2, revoked FROM devices") { row in
                guard let serial = row[0].bytes, let digest = row[1].bytes.flatMap({ NUCDigest(bytes: $0) }) else {
                    throw PostgresError(code: .decoding, message: "a devices row without a serial or a 32-byte nuc_digest")
                }
                try index.insert(serialUTF8: serial, nucDigest: digest,
                                 tables: (try row.decode(2, as: Int.self), try row.decode(3, as: Int.self), try row.decode(4, as: Int.self)),
                                 revoked: try row.decode(5, as: Bool.self))
                loaded += 1
                if loaded % 1_000_000 == 0 { progress(loaded) }
            }
            return StoreSnapshot(head: head, tables: tables, authority: authority, apiKeys: keys, index: index,
                            logPublicKey: try meta(c, MetaKey.logPublicKey), crl: try crl(c),
                            revokedNodes: Set(try c.query("SELECT node_id FROM revoked_nodes").map { try $0.decode(0, as: String.self) }),
                            sealedNUCDigestKey: try meta(c, MetaKey.nucDigestKey))
        }
    }

    /// The CA certificates (root and intermediate, PEM) as `authority_installed` stored them.
    static func authorityCertificates(_ c: PostgresConnection) throws -> (rootPEM: String, intermediatePEM: String)? {
        try c.query("SELECT root_pem, intermediate_pem FROM authority WHERE id = 1").first.map {
            (rootPEM: try $0.decode(0, as: String.self), intermediatePEM: try $0.decode(1, as: String.self))
        }
    }

    /// The id for a new API key: one more than the highest, under the lock every key creation takes.
    static func nextAPIKeyID(_ c: PostgresConnection) throws -> Int64 {
        try c.query("SELECT pg_advisory_xact_lock(7261002)")
        return try c.query("SELECT COALESCE(max(id), 0) + 1 FROM api_keys").first!.decode(0, as: Int64.self)
    }

    /// Every API key, by id, with its state by database time.
    static func apiKeys(_ c: PostgresConnection) throws -> [APIKeyRecord] {
        let ts = #"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#
        return try c.query("""
            SELECT id, name, role,
                   CASE WHEN revoked_at IS NOT NULL AND revoked_at <= now() THEN 'revoked'
                        WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired'
                        WHEN revoked_at IS NOT NULL OR expires_at IS NOT NULL THEN 'expiring'
                        ELSE 'active' END,
                   to_char(created_at AT TIME ZONE 'UTC', \(unsafeSQL: ts)), to_char(expires_at AT TIME ZONE 'UTC', \(unsafeSQL: ts)),
                   to_char(revoked_at AT TIME ZONE 'UTC', \(unsafeSQL: ts))
            FROM api_keys ORDER BY id
            """).map {
            APIKeyRecord(id: try $0.decode(0), name: try $0.decode(1), role: try $0.decode(2), state: try $0.decode(3),
                         created_at: try $0.decode(4), expires_at: try $0.decode(5), revoked_at: try $0.decode(6))
        }
    }

    /// The sealed key tables.
    package static func keyTables(_ c: PostgresConnection) throws -> [SealedKeyTable] {
        try c.query("""
            SELECT table_id, sealed_master_key, (EXTRACT(EPOCH FROM retired_at) * 1000)::bigint FROM key_tables ORDER BY table_id
            """).map {
            SealedKeyTable(id: try $0.decode(0), sealed: try $0.decode(1), retiredMillis: try $0.decode(2))
        }
    }


    /// Every key table with its state (by database time) and the number of devices holding it.
    package static func keyTableInfos(_ c: PostgresConnection) throws -> [KeyTableInfo] {
        try c.query("""
            SELECT k.table_id,
                   CASE WHEN k.retired_at IS NULL THEN 'active' WHEN k.retired_at > now() THEN 'retiring' ELSE 'retired' END,
                   to_char(k.retired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   COALESCE(n.devices, 0)::bigint
            FROM key_tables k
            LEFT JOIN (SELECT t, count(*) AS devices
                       FROM (SELECT t0 AS t FROM devices UNION ALL SELECT t1 FROM devices UNION ALL SELECT t2 FROM devices) x
                       GROUP BY t) n ON n.t = k.table_id
            ORDER BY k.table_id
            """).map {
            KeyTableInfo(id: try $0.decode(0), state: try $0.decode(1), retire_at: try $0.decode(2), device_count: try $0.decode(3))
        }
    }

    package static func keyTableExists(_ c: PostgresConnection, id: Int) throws -> Bool {
        try !c.query("SELECT 1 FROM key_tables WHERE table_id = \(id)").isEmpty
    }

    /// One page of the devices holding key table `table`, ordered by serial, after `after`.
    package static func devices(_ c: PostgresConnection, holdingTable table: Int, after: String?, limit: Int) throws -> [DeviceDetails] {
        try c.query("""
            SELECT \(unsafeSQL: detailColumns) FROM devices
            WHERE (t0 = \(table) OR t1 = \(table) OR t2 = \(table)) AND (\(after)::text IS NULL OR serial > \(after))
            ORDER BY serial LIMIT \(limit)
            """).map(details)
    }

    /// What a CRL lists: every revoked device's certificate, when and why it was revoked.
    package static func revokedCertificates(_ c: PostgresConnection) throws -> [RevokedCertificate] {
        try c.query("""
            SELECT serial, \(unsafeSQL: certificatePayload), (EXTRACT(EPOCH FROM COALESCE(revoked_at, provisioned_at)) * 1000)::bigint,
                   revocation_reason
            FROM devices WHERE revoked ORDER BY serial
            """).map {
            let serial: String = try $0.decode(0)
            return RevokedCertificate(serial: serial, certificatePEM: try provisioning(serial, payload: try $0.decode(1)).certificatePEM,
                                      revokedMillis: try $0.decode(2), reason: try $0.decode(3))
        }
    }


    /// The device's `device_provisioned` payload: the one copy of its certificate (docs/ARCHITECTURE.md §2.2.1).
    static let certificatePayload = "(SELECT l.payload FROM registration_log l WHERE l.seq = devices.provisioned_seq)"

    /// Decodes a device's provisioning payload read with `certificatePayload`.
    static func provisioning(_ serial: String, payload: [UInt8]?) throws -> LogChange.DeviceProvisioned {
        guard let payload else {
            throw NodeError(.internal, "device \(serial): its device_provisioned log entry is missing from this database")
        }
        guard case .deviceProvisioned(let d)? = try? LogChange.decode(kind: .deviceProvisioned, payload: payload), d.serial == serial else {
            throw NodeError(.internal, "device \(serial): its device_provisioned log entry does not decode to this device")
        }
        return d
    }

    package static let detailColumns = """
        serial, family, t0, t1, t2, \(certificatePayload), provisioned_seq, revoked, revocation_reason,
        to_char(provisioned_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), seq
        """

    package static func details(_ row: PostgresRow) throws -> DeviceDetails {
        let serial: String = try row.decode(0)
        let provisioned = try provisioning(serial, payload: try row.decode(5))
        return DeviceDetails(
            device_serial: serial, device_family: try row.decode(1),
            table_assignments: [try row.decode(2), try row.decode(3), try row.decode(4)],
            device_certificate: provisioned.certificatePEM, device_public_key: provisioned.publicKeyPEM ?? "",
            revoked: try row.decode(7), revocation_reason: try row.decode(8),
            provisioned_at: try row.decode(9), revoked_at: try row.decode(10), seq: try row.decode(11))
    }

    package static func device(_ c: PostgresConnection, serial: String) throws -> DeviceDetails? {
        try c.query("SELECT \(unsafeSQL: detailColumns) FROM devices WHERE serial = \(serial)").first.map(details)
    }

    /// One page of devices ordered by serial, after `after`, optionally of one family.
    package static func devices(_ c: PostgresConnection, family: String?, after: String?, limit: Int) throws -> [DeviceDetails] {
        try c.query("""
            SELECT \(unsafeSQL: detailColumns) FROM devices
            WHERE (\(family)::text IS NULL OR family = \(family)) AND (\(after)::text IS NULL OR serial > \(after))
            ORDER BY serial LIMIT \(limit)
            """).map(details)
    }


    package static func stats(_ c: PostgresConnection) throws -> DatabaseStats {
        var byFamily: [String: Int] = [:]
        for row in try c.query("SELECT family, count(*) FROM devices GROUP BY family ORDER BY family LIMIT 1000") {
            byFamily[try row.decode(0, as: String.self)] = try row.decode(1, as: Int.self)
        }
        let row = try c.query("""
            SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM devices WHERE revoked),
                   (SELECT count(*) FROM key_tables), (SELECT count(*) FROM key_tables WHERE retired_at IS NOT NULL),
                   (SELECT seq FROM log_head WHERE id = 1)
            """).first!
        return DatabaseStats(devices: try row.decode(0), revoked_devices: try row.decode(1), devices_by_family: byFamily,
                     key_tables: try row.decode(2), retired_key_tables: try row.decode(3), log_head_seq: try row.decode(4))
    }

    /// The log head, the device count and every revoked serial, in one statement (one snapshot). The revoked
    /// serials come from the partial index `devices_revoked`; there is one row per revoked device, or one row with
    /// a NULL serial when none is revoked.
    package static func revocationSnapshot(_ c: PostgresConnection) throws -> RevocationSnapshot {
        var head: Int64 = 0, devices = 0
        var revoked: [String] = []
        for row in try c.query("""
            SELECT h.seq, (SELECT count(*) FROM devices), d.serial
            FROM log_head h LEFT JOIN devices d ON d.revoked
            WHERE h.id = 1
            """) {
            head = try row.decode(0)
            devices = try row.decode(1)
            if let serial = try row.decode(2, as: String?.self) { revoked.append(serial) }
        }
        return RevocationSnapshot(headSeq: head, devices: devices, revokedSerials: revoked)
    }

    /// Reads inside a write transaction (`LogCommitter.commit`'s follow-up, `sma-node init`).
    struct TransactionReads: CommitReads {
        package let c: PostgresConnection
        package func logHead() throws -> Int64 { try Store.logHead(c) }
        package func revokedCertificates() throws -> [RevokedCertificate] { try Store.revokedCertificates(c) }
        package func nextAPIKeyID() throws -> Int64 { try Store.nextAPIKeyID(c) }
    }
}
