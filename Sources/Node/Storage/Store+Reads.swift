import Core
import Foundation
import SMAPostgres
import Logging

extension Store {
    /// Everything the in-memory state is built from, read in one consistent snapshot.
    struct Snapshot: Sendable {
        var head: Int64
        var tables: [(id: Int, sealed: [UInt8], retired: Bool)]
        var authority: (rootPEM: String, intermediatePEM: String)?
        var apiKeys: [(hash: Bytes32, principal: Principal)]
        var index: DeviceIndex
        var logPublicKey: [UInt8]?
    }

    /// Reads the snapshot (REPEATABLE READ), streaming devices straight into the index.
    static func snapshot(_ c: PostgresConnection, progress: (Int) -> Void = { _ in }) throws -> Snapshot {
        try c.transaction(isolation: .repeatableRead) { c in
            let head = try logHead(c)
            let tables = try keyTables(c)
            let authority = try c.query("SELECT root_pem, intermediate_pem FROM authority WHERE id = 1").first.map {
                (rootPEM: try $0.decode(0, as: String.self), intermediatePEM: try $0.decode(1, as: String.self))
            }
            let keys = try c.query("SELECT id, name, role, key_hash FROM api_keys WHERE revoked_at IS NULL").map { row in
                let role = Role(rawValue: try row.decode(2, as: String.self)) ?? .validator
                return (hash: Bytes32(try row.decode(3, as: [UInt8].self))!,
                        principal: Principal(keyID: try row.decode(0), name: try row.decode(1), role: role))
            }
            let count = try c.query("SELECT count(*) FROM devices").first!.decode(0, as: Int.self)
            var index = DeviceIndex()
            index.reserveCapacity(count)
            var loaded = 0
            try c.forEachRow("SELECT serial, nuc_hash, t0, t1, t2, revoked FROM devices") { row in
                let device = RegisteredDevice(
                    serial: try row.decode(0, as: String.self),
                    nucHash: NUCHash(bytes: try row.decode(1, as: [UInt8].self))!,
                    tableIDs: [try row.decode(2, as: Int.self), try row.decode(3, as: Int.self), try row.decode(4, as: Int.self)],
                    revoked: try row.decode(5, as: Bool.self))
                try index.insert(device)
                loaded += 1
                if loaded % 250_000 == 0 { progress(loaded) }
            }
            return Snapshot(head: head, tables: tables, authority: authority, apiKeys: keys, index: index,
                            logPublicKey: try meta(c, MetaKey.logPublicKey))
        }
    }

    /// The sealed key tables.
    static func keyTables(_ c: PostgresConnection) throws -> [(id: Int, sealed: [UInt8], retired: Bool)] {
        try c.query("SELECT table_id, sealed_master_key, retired_at IS NOT NULL FROM key_tables ORDER BY table_id").map {
            (id: try $0.decode(0, as: Int.self), sealed: try $0.decode(1, as: [UInt8].self), retired: try $0.decode(2, as: Bool.self))
        }
    }

    /// A device as `GET /api/v1/devices/{serial}` shows it (no secrets: no NUC hash, no keys).
    struct DeviceDetails: Codable, Sendable {
        var device_serial: String
        var device_family: String
        var table_assignments: [Int]
        var device_certificate: String
        var device_public_key: String
        var revoked: Bool
        var revocation_reason: String?
        var provisioned_at: String
        var revoked_at: String?
        var seq: Int64
    }

    static let detailColumns = """
        serial, family, t0, t1, t2, certificate_pem, public_key_pem, revoked, revocation_reason,
        to_char(provisioned_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), seq
        """

    static func details(_ row: PostgresRow) throws -> DeviceDetails {
        DeviceDetails(
            device_serial: try row.decode(0), device_family: try row.decode(1),
            table_assignments: [try row.decode(2), try row.decode(3), try row.decode(4)],
            device_certificate: try row.decode(5), device_public_key: try row.decode(6),
            revoked: try row.decode(7), revocation_reason: try row.decode(8),
            provisioned_at: try row.decode(9), revoked_at: try row.decode(10), seq: try row.decode(11))
    }

    static func device(_ c: PostgresConnection, serial: String) throws -> DeviceDetails? {
        try c.query("SELECT \(unsafeSQL: detailColumns) FROM devices WHERE serial = \(serial)").first.map(details)
    }

    /// One page of devices ordered by serial, after `after`, optionally of one family.
    static func devices(_ c: PostgresConnection, family: String?, after: String?, limit: Int) throws -> [DeviceDetails] {
        try c.query("""
            SELECT \(unsafeSQL: detailColumns) FROM devices
            WHERE (\(family)::text IS NULL OR family = \(family)) AND (\(after)::text IS NULL OR serial > \(after))
            ORDER BY serial LIMIT \(limit)
            """).map(details)
    }

    struct Stats: Codable, Sendable {
        var devices: Int
        var revoked_devices: Int
        var devices_by_family: [String: Int]
        var key_tables: Int
        var retired_key_tables: Int
        var log_head_seq: Int64
    }

    static func stats(_ c: PostgresConnection) throws -> Stats {
        var byFamily: [String: Int] = [:]
        for row in try c.query("SELECT family, count(*) FROM devices GROUP BY family ORDER BY family LIMIT 1000") {
            byFamily[try row.decode(0, as: String.self)] = try row.decode(1, as: Int.self)
        }
        let row = try c.query("""
            SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM devices WHERE revoked),
                   (SELECT count(*) FROM key_tables), (SELECT count(*) FROM key_tables WHERE retired_at IS NOT NULL),
                   (SELECT seq FROM log_head WHERE id = 1)
            """).first!
        return Stats(devices: try row.decode(0), revoked_devices: try row.decode(1), devices_by_family: byFamily,
                     key_tables: try row.decode(2), retired_key_tables: try row.decode(3), log_head_seq: try row.decode(4))
    }
}
