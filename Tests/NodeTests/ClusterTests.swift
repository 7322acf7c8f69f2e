import Core
import SMATestSupport
import Crypto
import NIOPosix
import SwiftASN1
import X509
import Foundation
import Logging
import SMAPostgres
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

/// Several real nodes and PostgreSQL databases on loopback, replicating over mutual TLS.
@Suite(.serialized) struct ClusterTests {
    @Test func provisioningAtTheLeaderPassesEverywhereAndRevocationFailsEverywhere() async throws {
        try await TestCluster.with(layout: [["a1", "a2"], ["b1", "b2"], ["c1"]]) { cluster in
            try await cluster.waitUntil("a leader is elected") { cluster.runtime("a1").leadership.isLeader || cluster.runtime("a2").leadership.isLeader }
            let leader = cluster.runtime("a1").leadership.isLeader ? "a1" : "a2"
            let (file, seq) = try await cluster.provision(via: leader, serial: "CAM-1")
            let token = NodeAPITests.token(from: file)
            for id in ["a1", "a2", "b1", "b2", "c1"] {
                try await cluster.waitUntil("\(id) passes the new device") { await cluster.validate(on: id, token) == true }
                #expect(cluster.runtime(id).state.applied >= seq)
            }
            let revoke = await cluster.call("POST", "\(cluster.nodes[leader]!.publicURL)/api/v1/devices/CAM-1/revoke", role: .admin)
            #expect(revoke?.status == 200)
            for id in ["a1", "a2", "b1", "b2", "c1"] {
                try await cluster.waitUntil("\(id) fails the revoked device") { await cluster.validate(on: id, token) == false }
            }
            // Every follower region reports the members and the leader.
            let view = try #require(await cluster.call("GET", "\(cluster.nodes["c1"]!.publicURL)/v1/cluster", role: nil))
            let obj = try JSONSerialization.jsonObject(with: Data(view.body)) as? [String: Any]
            #expect((obj?["members"] as? [Any])?.count == 5)
            #expect((obj?["leader"] as? [String: Any])?["id"] as? String == leader)
        }
    }

    @Test func writeSentToAFollowerIsForwardedAndReadYourWritesHolds() async throws {
        try await TestCluster.with(layout: [["a1"], ["b1"]]) { cluster in
            try await cluster.waitUntil("b1 knows the leader and caught up") {
                cluster.runtime("b1").api.forwarder?.view.leader?.id == "a1" && cluster.runtime("b1").state.isReady
            }
            let (file, seq) = try await cluster.provision(via: "b1", serial: "CAM-F")
            #expect(seq > 0)
            // X-SMA-Min-Seq: b1 answers only once it applied the write.
            let body = Array(try JSONEncoder().encode(ValidationRequest(camera_token: NodeAPITests.token(from: file))))
            let r = await cluster.call("POST", "\(cluster.nodes["b1"]!.publicURL)/validate", role: .validator, body: body,
                                       headers: [("X-SMA-Min-Seq", String(seq))])
            #expect(r?.status == 200)
            let answer = String(decoding: r?.body ?? [], as: UTF8.self)
            #expect(answer.contains("\"valid\":true"))
        }
    }

    @Test func forgedEntryPushedByAPeerIsRefused() async throws {
        try await TestCluster.with(layout: [["a1"], ["b1"]]) { cluster in
            try await cluster.waitUntil("b1 caught up") { cluster.runtime("b1").state.isReady }
            let b1 = cluster.runtime("b1")
            let head = b1.state.applied
            // A peer with a valid cluster certificate, but an entry signed with a key that is not the cluster's.
            let issued = try ClusterPKI.issueNodeCertificate(nodeID: "intruder", role: .follower, hosts: ["127.0.0.1"], ca: try .init(pemEncoded: cluster.caPEM),
                                                             caKey: cluster.caKey, now: Date())
            let client = CurlHTTPClient(tls: HTTPClientTLS(certificateChainPEM: try issued.certificate.serializeAsPEM().pemString,
                                                           privateKeyPEM: issued.key.pemRepresentation, trustRootsPEM: cluster.caPEM),
                                        threadPool: .singleton)
            defer { client.shutdown() }
            let forged = LogSigner.generate().sign(.apiKeyCreated(.init(id: 77, name: "evil", role: .admin, keyHash: APIKey.hash("sma_evil"))),
                                                   seq: head + 1, epoch: 1, timestampMillis: 0)
            let r = try await client.send(method: "POST", url: "\(cluster.nodes["b1"]!.peerURL)/peer/v1/log",
                                          headers: [("Content-Type", "application/json")],
                                          body: Array(try JSONEncoder().encode(LogBatch(entries: [WireLogEntry(forged)], head: head + 1))))
            #expect(r.status == 200)
            #expect(b1.state.applied == head)
            #expect(b1.state.apiKeys.authenticate("sma_evil") == nil)
            #expect(String(decoding: b1.metrics.exposition(), as: UTF8.self).contains("sma_log_entries_rejected_total{reason=\"bad_signature\"} 1"))
        }
    }

    /// Input on the peer routes crosses a trust boundary too: with a valid cluster certificate, malformed or random
    /// input on every `/peer/v1/*` route is the caller's error (4xx with the JSON error body), never a 500.
    @Test func malformedInputOnEveryPeerRouteIsAClientError() async throws {
        try await TestCluster.with(layout: [["a1"]]) { cluster in
            let issued = try ClusterPKI.issueNodeCertificate(nodeID: "prober", role: .follower, hosts: ["127.0.0.1"], ca: try .init(pemEncoded: cluster.caPEM),
                                                             caKey: cluster.caKey, now: Date())
            let client = CurlHTTPClient(tls: HTTPClientTLS(certificateChainPEM: try issued.certificate.serializeAsPEM().pemString,
                                                           privateKeyPEM: issued.key.pemRepresentation, trustRootsPEM: cluster.caPEM),
                                        threadPool: .singleton)
            defer { client.shutdown() }
            let base = cluster.nodes["a1"]!.peerURL + "/peer/v1"
            let json = [("Content-Type", "application/json")]
            var probes: [(method: String, path: String, body: [UInt8]?)] = [
                ("GET", "/log", nil), ("GET", "/log?after=-1", nil), ("GET", "/log?after=abc", nil), ("GET", "/log?after=0&limit=0", nil),
                ("GET", "/log?after=0&limit=x", nil), ("GET", "/log?after=99999999999999999999", nil),
                ("POST", "/log", []), ("POST", "/log", Array("{".utf8)), ("POST", "/log", Array(#"{"entries":5}"#.utf8)),
                ("POST", "/log", Array(#"{"entries":[{"seq":"x"}],"head":1}"#.utf8)), ("POST", "/log", Array("null".utf8)),
                ("POST", "/gossip", []), ("POST", "/gossip", Array("not json".utf8)), ("POST", "/gossip", Array(#"{"from":1}"#.utf8)),
                ("POST", "/gossip", Array(#"{"from":"x","members":[{"id":3}]}"#.utf8)),
                ("PUT", "/gossip", Array("{}".utf8)), ("DELETE", "/log", nil), ("POST", "/status", Array("{}".utf8)),
            ]
            var rng = SystemRandomNumberGenerator()
            for i in 0..<40 {
                let bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                probes.append(("POST", i % 2 == 0 ? "/log" : "/gossip", bytes))
            }
            for probe in probes {
                let r = try await client.send(method: probe.method, url: base + probe.path, headers: json, body: probe.body)
                #expect((400..<500).contains(r.status), "\(probe.method) \(probe.path) answered \(r.status)")
                #expect(String(decoding: r.body, as: UTF8.self).contains("\"error\""), "\(probe.method) \(probe.path): no JSON error body")
            }
            let ok = try await client.send(method: "GET", url: base + "/status")
            #expect(ok.status == 200)
        }
    }

    @Test func clientWithoutAClusterCertificateIsRefusedAtTheHandshake() async throws {
        try await TestCluster.with(layout: [["a1"]]) { cluster in
            let noCert = CurlHTTPClient(tls: HTTPClientTLS(certificateChainPEM: "", privateKeyPEM: "", trustRootsPEM: cluster.caPEM), threadPool: .singleton)
            defer { noCert.shutdown() }
            await #expect(throws: HTTPClientError.self) {
                _ = try await noCert.send(method: "GET", url: "\(cluster.nodes["a1"]!.peerURL)/peer/v1/log?after=0")
            }
            let foreignCA = try ClusterPKI.makeCA(name: "foreign", now: Date())
            let foreign = try ClusterPKI.issueNodeCertificate(nodeID: "x", role: .follower, hosts: ["127.0.0.1"], ca: foreignCA.certificate, caKey: foreignCA.key, now: Date())
            let wrongCA = CurlHTTPClient(tls: HTTPClientTLS(certificateChainPEM: try foreign.certificate.serializeAsPEM().pemString,
                                                            privateKeyPEM: foreign.key.pemRepresentation, trustRootsPEM: cluster.caPEM), threadPool: .singleton)
            defer { wrongCA.shutdown() }
            do throws(HTTPClientError) {
                _ = try await wrongCA.send(method: "GET", url: "\(cluster.nodes["a1"]!.peerURL)/peer/v1/log?after=0")
                Issue.record("a foreign certificate was accepted")
            } catch {
                #expect(error.code == .tlsHandshakeFailed)
            }
        }
    }

    @Test func stoppedFollowerCatchesUpAndLeaderStopMovesTheLease() async throws {
        try await TestCluster.with(layout: [["a1", "a2"], ["b1"]]) { cluster in
            try await cluster.waitUntil("a leader is elected") { cluster.runtime("a1").leadership.isLeader || cluster.runtime("a2").leadership.isLeader }
            let leader = cluster.runtime("a1").leadership.isLeader ? "a1" : "a2"
            let standby = leader == "a1" ? "a2" : "a1"
            await cluster.stop("b1")
            var files: [ProvisionResponse] = []
            for i in 0..<5 { files.append(try await cluster.provision(via: leader, serial: "CAM-\(i)").0) }
            try await cluster.start("b1")
            for f in files {
                let token = NodeAPITests.token(from: f)
                try await cluster.waitUntil("restarted b1 caught up") { await cluster.validate(on: "b1", token) == true }
            }
            // The leader stops; the standby takes the lease and provisioning continues, nothing acknowledged lost.
            await cluster.stop(leader)
            try await cluster.waitUntil("\(standby) takes the lease", timeout: .seconds(10)) { cluster.runtime(standby).leadership.isLeader }
            let after = try await cluster.provision(via: "b1", serial: "CAM-after").0
            for f in files + [after] {
                let token = NodeAPITests.token(from: f)
                try await cluster.waitUntil("everything passes on b1") { await cluster.validate(on: "b1", token) == true }
                #expect(await cluster.validate(on: standby, token) == true)
            }
        }
    }

    @Test func leaderCrashKeepsTheLeaseUntilItsTTLThenTheStandbyTakesOver() async throws {
        try await TestCluster.with(layout: [["a1", "a2"], ["b1"]]) { cluster in
            try await cluster.waitUntil("a leader is elected") { cluster.runtime("a1").leadership.isLeader || cluster.runtime("a2").leadership.isLeader }
            let leader = cluster.runtime("a1").leadership.isLeader ? "a1" : "a2"
            let standby = leader == "a1" ? "a2" : "a1"
            let (before, _) = try await cluster.provision(via: leader, serial: "CAM-before-crash")
            let epoch = cluster.runtime(standby).leadership.knownLeader.epoch
            let crashedAt = ContinuousClock.now
            await cluster.crash(leader)
            try await cluster.waitUntil("\(standby) takes the lapsed lease", timeout: .seconds(10)) { cluster.runtime(standby).leadership.isLeader }
            let takeover = crashedAt.duration(to: .now)
            // The lease was not released: the takeover waited for the TTL (3 s here) and bumped the epoch.
            #expect(takeover > .seconds(1))
            #expect(cluster.runtime(standby).leadership.knownLeader.epoch > epoch)
            let (after, _) = try await cluster.provision(via: "b1", serial: "CAM-after-crash")
            for f in [before, after] {
                let token = NodeAPITests.token(from: f)
                try await cluster.waitUntil("b1 passes every acknowledged device") { await cluster.validate(on: "b1", token) == true }
            }
        }
    }

    @Test func deposedLeaderCannotCommit() async throws {
        try await TestNode.with(tables: 10) { node in
            let headBefore = try await node.database.withConnection { c in
                // Another node takes over while this one still believes it leads (a pause, a partition).
                try c.query("UPDATE leader_lease SET holder = 'someone-else', epoch = epoch + 1, expires_at = now() + interval '1 minute'")
                return try Store.logHead(c)
            }
            await #expect(throws: NodeError(.notLeader, "")) {
                _ = try await node.runtime.devices!.provision(ProvisionRequest(device_serial: "LATE", device_family: "F"), actor: .command("test"))
            }
            #expect(try await node.database.withConnection { c in try Store.logHead(c) } == headBefore)
            #expect(node.runtime.state.registry.device(serial: DeviceSerial(unchecked: "LATE")) == nil)
        }
    }
}
