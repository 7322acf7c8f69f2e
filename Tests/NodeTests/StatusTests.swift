import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

/// `GET /v1/status`, `GET /status` and `GET /metrics`: what operators look at.
@Suite(.serialized) struct StatusTests {
    @Test func statusJSONShowsEveryMemberTheLeaderClusterWideSeriesAndRevocations() async throws {
        try await TestCluster.with(layout: [["a1"], ["b1"], ["c1"]]) { cluster in
            try await cluster.waitUntil("c1 knows every member and the leader") {
                let v = cluster.runtime("c1").api.forwarder!.view
                return v.members.count == 3 && v.leader?.id == "a1" && cluster.runtime("c1").state.isReady
            }
            let (file, _) = try await cluster.provision(via: "a1", serial: "CAM-S1")
            let token = NodeAPITests.token(from: file)
            var forged = token
            forged.auth_tag = String(repeating: "0", count: 32)
            try await cluster.waitUntil("b1 passes the device") { await cluster.validate(on: "b1", token) == true }
            for _ in 0..<3 { _ = await cluster.validate(on: "a1", token) }
            for _ in 0..<2 { _ = await cluster.validate(on: "c1", forged) }
            let reason = Array(#"{"reason": "stolen <b>camera</b>"}"#.utf8)
            #expect(await cluster.call("POST", "\(cluster.nodes["a1"]!.publicURL)/api/v1/devices/CAM-S1/revoke", role: .admin, body: reason)?.status == 200)
            try await cluster.waitUntil("c1 applied the revocation") { await cluster.validate(on: "c1", token) == false }

            // b1 passed at least once, a1 passed 3 times, c1 failed at least 3 times: the series of c1 sums them all.
            var status: [String: Any] = [:]
            try await cluster.waitUntil("c1's status shows every node's validations and the revocation", timeout: .seconds(10)) {
                guard let r = await cluster.call("GET", "\(cluster.nodes["c1"]!.publicURL)/v1/status", role: nil), r.status == 200,
                      let obj = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else { return false }
                status = obj
                let v = obj["validations"] as? [String: Any]
                let buckets = (v?["buckets"] as? [[String: Any]]) ?? []
                let pass = buckets.reduce(0) { $0 + (($1["pass"] as? Int) ?? 0) }
                let fail = buckets.reduce(0) { $0 + (($1["fail"] as? Int) ?? 0) }
                let revoked = (obj["recent_revocations"] as? [[String: Any]]) ?? []
                return pass >= 4 && fail >= 3 && (v?["nodes_reporting"] as? [String]) == ["a1", "b1", "c1"] && !revoked.isEmpty
            }
            #expect(status["node_id"] as? String == "c1")
            let leader = status["leader"] as? [String: Any]
            #expect(leader?["id"] as? String == "a1")
            #expect((leader?["epoch"] as? Int ?? 0) >= 1)
            let regions = try #require(status["regions"] as? [[String: Any]])
            #expect(regions.map { $0["name"] as? String } == ["region-1", "region-2", "region-3"])
            let nodes = regions.flatMap { ($0["nodes"] as? [[String: Any]]) ?? [] }
            #expect(nodes.map { $0["id"] as? String } == ["a1", "b1", "c1"])
            #expect(nodes.allSatisfy { $0["status"] as? String == "alive" && $0["reporting"] as? Bool == true })
            #expect(nodes.filter { $0["is_leader"] as? Bool == true }.map { $0["id"] as? String } == ["a1"])
            #expect(nodes.first { $0["id"] as? String == "a1" }?["role"] as? String == "leader-eligible")
            let buckets = try #require((status["validations"] as? [String: Any])?["buckets"] as? [[String: Any]])
            #expect(buckets.count == 90)
            let revoked = try #require((status["recent_revocations"] as? [[String: Any]])?.first)
            #expect(revoked["serial"] as? String == "CAM-S1")
            // The public status shows no revocation reason (an admin reads it on the device route).
            #expect(revoked["reason"] == nil)
        }
    }

    @Test func statusPageIsSelfContainedHTML() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                try await client.execute(uri: "/status", method: .get) { r in
                    #expect(r.status == .ok)
                    #expect(r.headers[.contentType] == "text/html; charset=utf-8")
                    let html = String(buffer: r.body)
                    #expect(html.hasPrefix("<!doctype html>"))
                    #expect(html.contains("fetch(\"/v1/status\""))
                    #expect(html.contains("<polyline"))
                    for external in ["http://", "https://", "//cdn", "src=\"//", "href=\"//", "@import", "url("] {
                        #expect(!html.contains(external), "page references an external asset: \(external)")
                    }
                }
                try await client.execute(uri: "/v1/status", method: .get) { r in
                    #expect(r.status == .ok)
                    let obj = jsonObject(r.body)
                    let regions = obj["regions"] as? [[String: Any]]
                    #expect(regions?.count == 1)
                    #expect((obj["leader"] as? [String: Any])?["id"] as? String == node.config.nodeID)
                }
            }
        }
    }

    /// The families operators' dashboards rely on, with their Prometheus types.
    static let requiredFamilies: [String: String] = [
        "sma_validations_total": "counter",
        "sma_validation_duration_seconds": "histogram",
        "sma_http_request_duration_seconds": "histogram",
        "sma_devices_provisioned_total": "counter",
        "sma_device_revocations_total": "counter",
        "sma_log_applied_seq": "gauge",
        "sma_replication_lag_entries": "gauge",
        "sma_replication_lag_seconds": "gauge",
        "sma_gossip_rounds_total": "counter",
        "sma_gossip_failures_total": "counter",
        "sma_log_pull_failures_total": "counter",
        "sma_log_push_failures_total": "counter",
        "sma_lease_epoch": "gauge",
        "sma_lease_takeovers_total": "counter",
        "sma_leader_changes_total": "counter",
        "sma_is_leader": "gauge",
        "sma_devices": "gauge",
        "sma_leader_contact_age_seconds": "gauge",
        "sma_validation_knowledge_age_seconds": "histogram",
        "sma_stale_validations_total": "counter",
        "sma_revocations_applied_early_total": "counter",
        "sma_database_behind_entries": "gauge",
    ]

    @Test func metricsExposeEveryRequiredFamilyWithItsType() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                _ = try await NodeAPITests.provision(node, client, serial: "CAM-M1")
                try await client.execute(uri: "/validate", method: .post, headers: node.headers(.validator),
                                         body: validationBody(cameraToken(nucHex: String(repeating: "ab", count: 32),
                                                                          masterHex: String(repeating: "cd", count: 32), table: 1, keyIndex: 1))) { r in
                    #expect(r.status == .ok)
                }
                try await client.execute(uri: "/metrics", method: .get) { r in
                    #expect(r.status == .ok)
                    let text = String(buffer: r.body)
                    var types: [String: String] = [:]
                    for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
                        let parts = line.split(separator: " ")
                        if parts.count == 4 { types[String(parts[2])] = String(parts[3]) }
                    }
                    for (family, type) in Self.requiredFamilies {
                        #expect(types[family] == type, "\(family): expected \(type), got \(types[family] ?? "nothing")")
                    }
                    #expect(text.contains(#"sma_validations_total{result="fail",reason="#))
                    #expect(text.contains(#"sma_http_request_duration_seconds_count{route="/api/v1/devices/provision",method="POST",status="201"} 1"#))
                    #expect(text.contains(#"sma_devices_provisioned_total 1"#))
                    // Counters end in _total, durations are in seconds: no other unit suffix.
                    for name in types.keys {
                        #expect(!name.contains("_ms") && !name.contains("milliseconds"), "\(name) is not in base units")
                        if types[name] == "counter" { #expect(name.hasSuffix("_total"), "counter \(name) does not end in _total") }
                    }
                }
            }
        }
    }
}
