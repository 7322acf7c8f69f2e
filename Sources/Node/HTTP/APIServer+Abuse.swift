import Core
import Foundation
import Hummingbird
import NIOCore
import SMAPostgres

extension APIServer {
    struct AbuseResponse: Encodable {
        var node_id: String
        var enabled: Bool
        var window_hours: Double
        var warn_per_day: Int
        var revoke_per_day: Int
        var report_floor: Int
        var reports: [Report]
        var devices: [Device]

        struct Report: Encodable {
            var node_id: String
            var incarnation: UInt64
            var version: UInt64
            var generated_at: String
            var applied_seq: Int64
            var devices: Int
        }

        struct Device: Encodable {
            var device_serial: String
            var count: UInt64
            var by_node: [String: UInt64]
            /// `ok`, `warned`, `revoked_by_abuse`, `revoked` (by an operator), `unknown` (not in this node's registry).
            var state: String
            var revocation_reason: String?
        }
    }

    /// `GET /api/v1/abuse?min=&limit=` (admin): devices with the highest cluster-wide 24 h validation counts,
    /// as this node's ledger sums them, with the per-node breakdown and thresholds.
    @Sendable func abuseReport(_ request: Request, context: SMARequestContext) async throws -> Response {
        _ = try authorize(request, context, .admin)
        let q = request.uri.queryParameters
        var minimum: UInt64 = 1
        if let raw = q.get("min") {
            guard let m = UInt64(raw) else { throw InputError(field: "min", "must be a non-negative integer") }
            minimum = m
        }
        let limit = try Self.pageLimit(q.get("limit"))
        let monitor = state.abuse
        let t = monitor.thresholds
        let snapshot = monitor.snapshot()
        let top = snapshot.totals.filter { $0.count >= minimum }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.serial < $1.serial }
            .prefix(limit)
        var devices: [AbuseResponse.Device] = []
        for total in top {
            var d = AbuseResponse.Device(device_serial: total.serial, count: total.count, by_node: total.byNode, state: "ok")
            switch state.registry.device(serial: total.serial)?.revoked {
            case nil:
                d.state = "unknown"
            case true?:
                let serial = total.serial
                let reason = try await pool.withConnection { c in try Store.device(c, serial: serial)?.revocation_reason }
                d.revocation_reason = reason
                d.state = (reason ?? "").hasPrefix("abuse:") ? "revoked_by_abuse" : "revoked"
            case false?:
                if t.warnPerWindow > 0 && total.count >= UInt64(t.warnPerWindow) { d.state = "warned" }
            }
            devices.append(d)
        }
        let reports = snapshot.reports.map { r in
            AbuseResponse.Report(node_id: r.node, incarnation: r.incarnation, version: r.version,
                                 generated_at: Self.iso8601(millis: r.generatedAtMillis), applied_seq: r.appliedSeq, devices: r.counts.count)
        }
        return try json(AbuseResponse(node_id: config.nodeID, enabled: monitor.enabled, window_hours: monitor.windowHours,
                                      warn_per_day: Int(t.warnPerWindow), revoke_per_day: Int(t.revokePerWindow),
                                      report_floor: Int(t.reportFloor), reports: reports, devices: devices))
    }

    static func iso8601(millis: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }
}
