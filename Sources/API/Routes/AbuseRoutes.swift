import Core
import NodeServices
import Replication
package import Hummingbird
import Foundation
import NIOCore

extension APIServer {
    /// `GET /api/v1/abuse` (admins).
    func abuseRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.group().add(middleware: authenticate(.admin))
            .get("", use: abuseReport)
        return routes
    }

    package struct AbuseResponse: Encodable {
        package var node_id: String
        package var enabled: Bool
        package var window_hours: Double
        package var warn_per_day: Int
        package var revoke_per_day: Int
        package var report_floor: Int
        package var reports: [Report]
        package var devices: [Device]

        package struct Report: Encodable {
            package var node_id: String
            package var incarnation: UInt64
            package var version: UInt64
            package var generated_at: String
            package var applied_seq: Int64
            package var devices: Int
        }

        package struct Device: Encodable {
            package var device_serial: String
            package var count: UInt64
            package var by_node: [String: UInt64]
            /// `ok`, `warned`, `revoked_by_abuse`, `revoked` (by an operator), `unknown` (not in this node's registry).
            package var state: String
            package var revocation_reason: String?
        }
    }

    /// `GET /api/v1/abuse?min=&limit=` (admin): devices with the highest cluster-wide 24 h validation counts,
    /// as this node's ledger sums them, with the per-node breakdown and thresholds.
    @Sendable package func abuseReport(_ request: Request, context: SMARequestContext) async throws -> Response {
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
            switch state.registry.device(serial: DeviceSerial(unchecked: total.serial))?.revoked {
            case nil:
                d.state = "unknown"
            case true?:
                let serial = total.serial
                let reason = try await store.device(serial: serial)?.revocation_reason
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

    package static func iso8601(millis: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }
}
