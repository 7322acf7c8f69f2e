import Core
import Foundation
import SMATestSupport
import SMAPostgres
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

/// Issue 10, item 1 and the node half of item 5, on running nodes: a follower's certificate (stolen) cannot
/// rewrite the member table or claim the lease, and a revoked node is refused by every peer and never leads.
@Suite(.serialized) struct PeerTrustTests {
    func gossip(_ client: CurlHTTPClient, to url: String, _ members: [MemberInfo]) async throws -> Int {
        let envelope = GossipEnvelope(from: "b1", members: members)
        return try await client.send(method: "POST", url: url + "/peer/v1/gossip", headers: [("Content-Type", "application/json")],
                                     body: Array(try JSONEncoder().encode(envelope))).status
    }

    @Test func aFollowerCertificateCannotImpersonateTheLeaderOrClaimTheLease() async throws {
        try await TestCluster.with(layout: [["a1", "a2"], ["b1"]]) { cluster in
            try await cluster.waitUntil("a2 sees a1 lead") { cluster.runtime("a2").api.forwarder?.view.leader?.id == "a1" }
            let attacker = try cluster.peerClient(as: "b1")
            defer { attacker.shutdown() }
            let view = cluster.runtime("a2").api.forwarder!.view
            let real = try #require(view.members.first { $0.info.id == "a1" }?.info)
            // a1's record, re-gossiped with a higher incarnation (to hide it), and b1 claiming the lease at epoch 1000.
            var hidden = real
            hidden.incarnation += 1_000_000
            var claim = try #require(view.members.first { $0.info.id == "b1" }?.info)
            claim.heartbeat += 1_000
            claim.isLeader = true
            claim.leaderEpoch = 1_000
            let invented = MemberInfo(id: "ghost", region: "region-9", role: "leader-eligible", peerURL: cluster.nodes["b1"]!.peerURL,
                                      publicURL: "http://127.0.0.1:1", heartbeat: 1, leaderEpoch: 2_000, isLeader: true, incarnation: 1)
            #expect(try await gossip(attacker, to: cluster.nodes["a2"]!.peerURL, [hidden, claim, invented]) == 200)
            #expect(view.leader?.id == "a1")
            #expect(view.members.first { $0.info.id == "a1" }?.info.incarnation == real.incarnation)
            #expect(!view.isMember("ghost"))
            #expect(String(decoding: cluster.runtime("a2").metrics.exposition(), as: UTF8.self).contains("sma_member_records_refused_total"))
            // Writes still reach the real leader through a2.
            _ = try await cluster.provision(via: "a2", serial: "CAM-AFTER-FORGERY")
        }
    }

    @Test func aRevokedNodeIsRefusedByEveryPeerAndNeverLeadsAgain() async throws {
        try await TestCluster.with(layout: [["a1", "a2"], ["b1"]]) { cluster in
            try await cluster.waitUntil("a1 leads") { cluster.runtime("a1").leadership.isLeader }
            let a1 = cluster.nodes["a1"]!.publicURL
            // A follower: refused on the peer channel once the entry arrives; dropped from the member table.
            let answer = try #require(await cluster.call("POST", "\(a1)/api/v1/nodes/b1/revoke", role: .admin,
                                                         body: Array(#"{"reason": "stolen"}"#.utf8)))
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
            #expect(String(decoding: answer.body, as: UTF8.self).contains("\"changed\":true"))
            let again = try #require(await cluster.call("POST", "\(a1)/api/v1/nodes/b1/revoke", role: .admin))
            #expect(String(decoding: again.body, as: UTF8.self).contains("\"changed\":false"))
            #expect(await cluster.call("POST", "\(a1)/api/v1/nodes/b1/revoke", role: .provisioner)?.status == 403)
            let bad = await cluster.call("POST", "\(a1)/api/v1/nodes/b%0A1/revoke", role: .admin)
            #expect(bad?.status == 422, "\(bad.map { String(decoding: $0.body, as: UTF8.self) } ?? "no answer")")
            try await cluster.waitUntil("a2 applied the revocation") { cluster.runtime("a2").state.isNodeRevoked("b1") }
            let stolen = try cluster.peerClient(as: "b1")
            defer { stolen.shutdown() }
            for id in ["a1", "a2"] {
                let r = try await stolen.send(method: "GET", url: cluster.nodes[id]!.peerURL + "/peer/v1/log?after=0")
                #expect(r.status == 403)
                #expect(String(decoding: r.body, as: UTF8.self).contains("node_revoked"))
            }
            try await cluster.waitUntil("a1 and a2 expelled b1") {
                ["a1", "a2"].allSatisfy { !(cluster.runtime($0).api.forwarder?.view.isMember("b1") ?? true) }
            }
            // The leader itself: its lease ends with the entry, a2 takes over with a higher epoch, a1 never leads again.
            let epoch = try #require(cluster.runtime("a1").leadership.fence?.epoch)
            #expect(await cluster.call("POST", "\(a1)/api/v1/nodes/a1/revoke", role: .admin)?.status == 200)
            try await cluster.waitUntil("a2 leads") { cluster.runtime("a2").leadership.isLeader }
            #expect((cluster.runtime("a2").leadership.fence?.epoch ?? 0) > epoch)
            // a1's own view of its lease lapses within its TTL (its renewals are refused); its writes already fail the fence.
            try await cluster.waitUntil("a1 steps down") { !cluster.runtime("a1").leadership.isLeader }
            let held = try await cluster.databases[0].withConnection(logger: cluster.logger) { c in
                try Store.acquireLease(c, holder: "a1", ttlSeconds: 60)
            }
            #expect(held == nil)
            _ = try await cluster.provision(via: "a2", serial: "CAM-AFTER-REVOCATION")
        }
    }
}
