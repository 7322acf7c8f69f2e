import Core
import NodeServices
import Replication
package import Hummingbird
import Foundation
import Logging
import NIOCore

/// The original Python SMA's routes, served only in the `birthmark` compatibility profile (docs/ARCHITECTURE.md §4.8),
/// with our roles: `/health` and `/` are open, everything under `/api` needs the admin key. Blacklisting is our
/// revocation (audited, replicated, forwarded to the leader); the abuse routes read our abuse ledger.
extension APIServer {
    func compatibilityRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.get("/health", use: compatHealth)
        routes.get("/", use: compatRoot)
        routes.group().add(middleware: authenticate(.admin))
            .get("/api/devices/{serial}/status", use: compatDeviceStatus)
            .get("/api/admin/blacklist", use: compatBlacklist)
            .get("/api/admin/abuse/check", use: compatAbuseCheck)
            .get("/api/admin/abuse/report", use: compatAbuseReport)
        routes.group().add(middleware: authenticate(.admin, write: true))
            .post("/api/admin/blacklist/{serial}", use: compatBlacklistAdd)
            .delete("/api/admin/blacklist/{serial}", use: compatBlacklistRemove)
        return routes
    }

    package struct CompatHealth: Encodable {
        package var status: String
        package var timestamp: String
        package var total_devices: Int
        package var total_tables: Int
        package var service: String
        package var node_id: String
        package var ready: Bool
    }

    /// `GET /health` (open): the original's fields (`status` `healthy` while the process serves, counts from memory)
    /// plus `node_id` and `ready` (caught up with the cluster).
    @Sendable package func compatHealth(_ request: Request, context: SMARequestContext) async throws -> Response {
        let counts = state.registry.counts
        return try json(CompatHealth(status: "healthy", timestamp: Self.iso8601(millis: Int64(Date().timeIntervalSince1970 * 1000)),
                                     total_devices: counts.devices, total_tables: counts.keyTables, service: "sma",
                                     node_id: config.nodeID, ready: state.isReady))
    }

    package struct CompatRoot: Encodable {
        package var service: String
        package var version: String
        package var status: String
        package var compatibility: String
    }

    /// `GET /` (open): the original's fields, and the profile.
    @Sendable package func compatRoot(_ request: Request, context: SMARequestContext) async throws -> Response {
        try json(CompatRoot(service: "Birthmark SMA", version: "1.0.0", status: "running", compatibility: config.compatibility.rawValue))
    }

    package struct CompatDeviceStatus: Encodable {
        package var device_serial: String
        package var is_blacklisted: Bool
        package var blacklisted_at: String?
        package var blacklist_reason: String?
        /// Validations of the device across the cluster in the abuse window (24 h), as this node's ledger sums them.
        package var submissions_24h: UInt64
        /// We keep counts for the abuse window only: this is the same 24 h count (documented).
        package var submissions_total: UInt64
        package var key_table_indices: [Int]

        private enum CodingKeys: String, CodingKey {
            case device_serial, is_blacklisted, blacklisted_at, blacklist_reason, submissions_24h, submissions_total, key_table_indices
        }

        /// Every field always present, `null` when unset (as the original answers).
        package func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(device_serial, forKey: .device_serial)
            try c.encode(is_blacklisted, forKey: .is_blacklisted)
            try c.encode(blacklisted_at, forKey: .blacklisted_at)
            try c.encode(blacklist_reason, forKey: .blacklist_reason)
            try c.encode(submissions_24h, forKey: .submissions_24h)
            try c.encode(submissions_total, forKey: .submissions_total)
            try c.encode(key_table_indices, forKey: .key_table_indices)
        }
    }

    /// The cluster-wide 24 h count of `serial` from the abuse ledger (0 when not reported).
    func submissions24h(_ serial: String) -> UInt64 {
        state.abuse.snapshot().totals.first { $0.serial == serial }?.count ?? 0
    }

    /// `GET /api/devices/{serial}/status` (admin).
    @Sendable package func compatDeviceStatus(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await awaitMinSeq(request, fromDatabase: true)
        let serial = try deviceSerial(context)
        guard let d = try await store.device(serial: serial.string) else { throw NodeError(.notFound, "no device with this serial") }
        let n = submissions24h(d.device_serial)
        return try json(CompatDeviceStatus(device_serial: d.device_serial, is_blacklisted: d.revoked, blacklisted_at: d.revoked_at,
                                           blacklist_reason: d.revocation_reason, submissions_24h: n, submissions_total: n,
                                           key_table_indices: d.table_assignments))
    }

    package struct CompatBlacklistChange: Encodable {
        package var device_serial: String
        package var is_blacklisted: Bool
        package var changed: Bool
        package var reason: String?
    }

    /// `POST /api/admin/blacklist/{serial}?reason=` (admin): revokes the device (audited, replicated; forwarded to the leader).
    @Sendable package func compatBlacklistAdd(_ request: Request, context: SMARequestContext) async throws -> Response {
        let reason = try Self.text(request.uri.queryParameters.get("reason"), field: "reason") ?? ""
        switch try await changeRevocation(request, context, reason: { _ in reason }) {
        case .forwarded(let response): return response
        case .done(let serial, let seq):
            return try json(CompatBlacklistChange(device_serial: serial.string, is_blacklisted: true, changed: seq != nil,
                                                  reason: reason.isEmpty ? "unspecified" : reason), seq: seq ?? state.applied)
        }
    }

    /// `DELETE /api/admin/blacklist/{serial}` (admin): reinstates the device (audited, replicated; forwarded to the leader).
    @Sendable package func compatBlacklistRemove(_ request: Request, context: SMARequestContext) async throws -> Response {
        switch try await changeRevocation(request, context, reason: nil) {
        case .forwarded(let response): return response
        case .done(let serial, let seq):
            return try json(CompatBlacklistChange(device_serial: serial.string, is_blacklisted: false, changed: seq != nil, reason: nil),
                            seq: seq ?? state.applied)
        }
    }

    package struct CompatBlacklist: Encodable {
        package struct Entry: Encodable {
            package var device_serial: String
            package var blacklisted_at: String
            package var blacklist_reason: String?
        }
        package var total: Int
        package var devices: [Entry]
    }

    /// `GET /api/admin/blacklist?limit=` (admin): the most recently revoked devices, newest first.
    @Sendable package func compatBlacklist(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await awaitMinSeq(request, fromDatabase: true)
        let limit = try Self.pageLimit(request.uri.queryParameters.get("limit"))
        let revoked = try await store.recentRevocations(limit: limit)
        return try json(CompatBlacklist(total: state.registry.counts.revoked,
                                        devices: revoked.map { .init(device_serial: $0.serial, blacklisted_at: $0.revoked_at, blacklist_reason: $0.reason) }))
    }

    package struct CompatAbuseCheck: Encodable {
        package var checked_devices: Int
        package var warn_per_day: Int
        package var revoke_per_day: Int
        package var flagged: [Flagged]
        package struct Flagged: Encodable {
            package var device_serial: String
            package var submissions_24h: UInt64
            package var action: String
        }
    }

    /// `GET /api/admin/abuse/check` (admin): devices at or above the warning threshold and what the leader does about
    /// them (`warn` or `revoke`). Read-only: revocation itself is the leader's abuse detection, as always.
    @Sendable package func compatAbuseCheck(_ request: Request, context: SMARequestContext) async throws -> Response {
        let t = state.abuse.thresholds
        let totals = state.abuse.snapshot().totals
        let warn = UInt64(t.warnPerWindow), revoke = UInt64(t.revokePerWindow)
        let flagged = totals.filter { warn > 0 && $0.count >= warn || revoke > 0 && $0.count >= revoke }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.serial < $1.serial }
            .map { CompatAbuseCheck.Flagged(device_serial: $0.serial, submissions_24h: $0.count,
                                            action: revoke > 0 && $0.count >= revoke ? "revoke" : "warn") }
        return try json(CompatAbuseCheck(checked_devices: totals.count, warn_per_day: Int(t.warnPerWindow),
                                         revoke_per_day: Int(t.revokePerWindow), flagged: flagged))
    }

    /// `GET /api/admin/abuse/report?min=&limit=` (admin): our abuse report (`GET /api/v1/abuse`) under the original's path.
    @Sendable package func compatAbuseReport(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await abuseReport(request, context: context)
    }

    package struct CompatStats: Encodable {
        package var total_devices: Int
        package var devices_by_family: [String: Int]
        package var total_table_assignments: Int
        package var unique_tables_used: Int
        package var table_statistics: TableStatistics
        package struct TableStatistics: Encodable {
            package var total_tables: Int
            package var min_devices_per_table: Int
            package var max_devices_per_table: Int
            package var avg_devices_per_used_table: Double
        }
    }

    /// The original's `/stats` fields, added to ours in the `birthmark` profile.
    func compatStats(_ db: DatabaseStats) async throws -> CompatStats {
        let tables = try await store.keyTables()
        let used = tables.filter { $0.device_count > 0 }
        let assignments = tables.reduce(0) { $0 + $1.device_count }
        return CompatStats(total_devices: db.devices, devices_by_family: db.devices_by_family, total_table_assignments: assignments,
                           unique_tables_used: used.count,
                           table_statistics: .init(total_tables: tables.count,
                                                   min_devices_per_table: used.map(\.device_count).min() ?? 0,
                                                   max_devices_per_table: used.map(\.device_count).max() ?? 0,
                                                   avg_devices_per_used_table: used.isEmpty ? 0 : Double(assignments) / Double(used.count)))
    }
}
