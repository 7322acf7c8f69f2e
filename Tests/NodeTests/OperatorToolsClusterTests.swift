import Core
import Foundation
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

/// CRL, audit trail and key-table retirement across regions: real nodes, mutual-TLS replication.
@Suite(.serialized) struct OperatorToolsClusterTests {
    @Test("a revocation at the leader appears in the CRL served by a follower of another region; reinstatement removes it")
    func crlIsCurrentOnAFollowerOfAnotherRegion() async throws {
        try await TestCluster.with(layout: [["a1"], ["b1"]]) { cluster in
            try await cluster.waitUntil("b1 knows the leader and caught up") {
                cluster.runtime("b1").api.forwarder?.view.leader?.id == "a1" && cluster.runtime("b1").state.isReady
            }
            let (file, _) = try await cluster.provision(via: "a1", serial: "CAM-CRL")
            let serialHex = try OperatorToolsTests.serialHex(file.device_certificate)
            let a1 = cluster.nodes["a1"]!.publicURL, b1 = cluster.nodes["b1"]!.publicURL
            let revoke = try #require(await cluster.call("POST", "\(a1)/api/v1/devices/CAM-CRL/revoke", role: .admin,
                                                         body: Array(#"{"reason": "stolen"}"#.utf8)))
            #expect(revoke.status == 200)
            let seq = try #require(revoke.header("X-SMA-Seq"))
            // No API key: CRLs are public.
            let crl = try #require(await cluster.call("GET", "\(b1)/api/v1/crl", role: nil, headers: [("X-SMA-Min-Seq", seq)]))
            #expect(crl.status == 200)
            let (text, verified) = try OperatorToolsTests.openssl(crl.body, chain: file.certificate_chain)
            #expect(verified, "\(text)")
            #expect(text.contains(serialHex), "\(text)")

            // Reinstated through the follower (forwarded to the leader): gone from the next CRL everywhere.
            let reinstate = try #require(await cluster.call("POST", "\(b1)/api/v1/devices/CAM-CRL/reinstate", role: .admin))
            #expect(reinstate.status == 200)
            let seq2 = try #require(reinstate.header("X-SMA-Seq"))
            let crl2 = try #require(await cluster.call("GET", "\(b1)/api/v1/crl", role: nil, headers: [("X-SMA-Min-Seq", seq2)]))
            #expect(Int64(crl2.header("X-SMA-CRL-Number") ?? "") ?? 0 > Int64(crl.header("X-SMA-CRL-Number") ?? "") ?? 0)
            let (text2, verified2) = try OperatorToolsTests.openssl(crl2.body, chain: file.certificate_chain)
            #expect(verified2)
            #expect(!text2.contains(serialHex))
        }
    }

    @Test("a forwarded write is audited with the receiving node, and with the client's address only when a leader-eligible node vouches for it; retirement replicates")
    func forwardedWritesAreAuditedAndRetirementReplicates() async throws {
        try await TestCluster.with(layout: [["a1", "a2"], ["b1"]]) { cluster in
            try await cluster.waitUntil("a1 leads") { cluster.runtime("a1").leadership.isLeader }
            try await cluster.waitUntil("a2 and b1 know the leader and caught up") {
                ["a2", "b1"].allSatisfy { cluster.runtime($0).api.forwarder?.view.leader?.id == "a1" && cluster.runtime($0).state.isReady }
            }
            let a1 = cluster.nodes["a1"]!.publicURL, b1 = cluster.nodes["b1"]!.publicURL
            let (file, _) = try await cluster.provision(via: "b1", serial: "CAM-FWD")
            _ = try await cluster.provision(via: "a2", serial: "CAM-FWD-STANDBY")
            // Headers that only an authenticated peer may set are ignored on the public port.
            let spoofed = await cluster.call("POST", "\(a1)/api/v1/devices/provision", role: .provisioner,
                                             body: Array(#"{"device_serial": "CAM-SPOOF", "device_family": "F"}"#.utf8),
                                             headers: [("X-SMA-Client-Address", "6.6.6.6")])
            #expect(spoofed?.status == 201)
            // The audit trail, read through the follower (forwarded to the leader).
            let answer = try #require(await cluster.call("GET", "\(b1)/api/v1/audit?order=desc&limit=10", role: .admin))
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
            let entries = (try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])?["entries"] as? [[String: Any]] ?? []
            let forwarded = try #require(entries.first { $0["target"] as? String == "CAM-FWD" })
            #expect(forwarded["node_id"] as? String == "b1")
            // A follower's certificate may be stolen: the address it claims is not recorded.
            #expect(forwarded["client_address"] as? String == "unverified")
            #expect(forwarded["api_key_name"] as? String == "test-provisioner")
            let standby = try #require(entries.first { $0["target"] as? String == "CAM-FWD-STANDBY" })
            #expect(standby["node_id"] as? String == "a2")
            #expect(standby["client_address"] as? String == "127.0.0.1")
            let direct = try #require(entries.first { $0["target"] as? String == "CAM-SPOOF" })
            #expect(direct["node_id"] as? String == "a1")
            #expect(direct["client_address"] as? String == "127.0.0.1")

            // Retire one of the device's tables through the follower, at once: its tokens FAIL on both nodes.
            let table = file.table_assignments[0]
            let retire = try #require(await cluster.call("POST", "\(b1)/api/v1/key-tables/\(table)/retire", role: .admin,
                                                         body: Array(#"{"grace_seconds": 0}"#.utf8)))
            #expect(retire.status == 200)
            let token = NodeAPITests.token(from: file, tableSlot: 0)
            for id in ["a1", "b1"] {
                try await cluster.waitUntil("\(id) fails tokens of the retired table") { await cluster.validate(on: id, token) == false }
                #expect(await cluster.validate(on: id, NodeAPITests.token(from: file, tableSlot: 1)) == true)
            }
        }
    }
}
