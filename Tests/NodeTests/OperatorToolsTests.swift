import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import SMAPostgres
import Testing
import X509
import SwiftASN1
import SMATestSupport
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

/// Key-table compromise tooling, the audit trail and the CRL on one node with a real PostgreSQL.
@Suite(.serialized) struct OperatorToolsTests {
    static let seqHeader = HTTPField.Name("X-SMA-Seq")!

    @Test("a retired key table is never assigned again and its tokens PASS until the grace ends, then FAIL")
    func retiredKeyTableTokensFailAfterTheGrace() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-T")
                let table = file.table_assignments[0]
                let token = NodeAPITests.token(from: file, tableSlot: 0)
                try await client.execute(uri: "/api/v1/key-tables/\(table)/retire", method: .post, headers: node.headers(.admin),
                                         body: jsonBody(["grace_seconds": 2])) { r in
                    #expect(r.status == .ok, "\(String(buffer: r.body))")
                    #expect(jsonObject(r.body)["state"] as? String == "retiring")
                    #expect(r.headers[Self.seqHeader] != nil)
                }
                // During the grace the device's tokens under that table still PASS.
                #expect(try await NodeAPITests.validate(node, client, token).1?.valid == true)
                try await client.execute(uri: "/api/v1/key-tables", method: .get, headers: node.headers(.admin)) { r in
                    let tables = jsonObject(r.body)["key_tables"] as? [[String: Any]] ?? []
                    #expect(tables.count == 10)
                    let row = tables.first { $0["id"] as? Int == table }
                    #expect(row?["state"] as? String == "retiring")
                    #expect(row?["device_count"] as? Int == 1)
                    #expect(row?["retire_at"] is String)
                    #expect(tables.filter { $0["state"] as? String == "active" }.count == 9)
                }
                try await client.execute(uri: "/api/v1/key-tables/\(table)/devices?limit=10", method: .get, headers: node.headers(.admin)) { r in
                    let devices = jsonObject(r.body)["devices"] as? [[String: Any]] ?? []
                    #expect(devices.map { $0["device_serial"] as? String } == ["CAM-T"])
                }
                // Retiring again is a conflict; unknown tables are 404; a bad id is a client error.
                try await client.execute(uri: "/api/v1/key-tables/\(table)/retire", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .conflict)
                }
                try await client.execute(uri: "/api/v1/key-tables/999/retire", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .notFound)
                }
                try await client.execute(uri: "/api/v1/key-tables/999/devices", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .notFound)
                }
                try await client.execute(uri: "/api/v1/key-tables/x/devices", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .unprocessableContent)
                }
                try await client.execute(uri: "/api/v1/key-tables/1/retire", method: .post, headers: node.headers(.admin),
                                         body: jsonBody(["grace_seconds": -1])) { r in
                    #expect(r.status == .unprocessableContent)
                }
                try await client.execute(uri: "/api/v1/key-tables/1/retire", method: .post, headers: node.headers(.provisioner)) { r in
                    #expect(r.status == .forbidden)
                }
                // New devices never get the retiring table.
                for i in 0..<20 {
                    let (f, _) = try await NodeAPITests.provision(node, client, serial: "CAM-N\(i)")
                    #expect(!f.table_assignments.contains(table))
                }
                try await Task.sleep(for: .milliseconds(2100))
                let (_, after) = try await NodeAPITests.validate(node, client, token)
                #expect(after?.valid == false && after?.message == FailureReason.tableRetired.message)
                #expect(try await NodeAPITests.validate(node, client, NodeAPITests.token(from: file, tableSlot: 1)).1?.valid == true)
                // Grace 0: at once.
                let other = file.table_assignments[1]
                try await client.execute(uri: "/api/v1/key-tables/\(other)/retire", method: .post, headers: node.headers(.admin),
                                         body: jsonBody(["grace_seconds": 0])) { r in
                    #expect(jsonObject(r.body)["state"] as? String == "retired")
                }
                #expect(try await NodeAPITests.validate(node, client, NodeAPITests.token(from: file, tableSlot: 1)).1?.valid == false)
            }
            // The retirements are in the database, from which a restarting node loads them.
            let stored = try await node.database.withConnection { c in try Store.keyTables(c) }
            #expect(stored.filter { $0.retiredMillis != nil }.count == 2)
        }
    }

    @Test("every write is in the audit trail with the API key, role, action, target, log seq, time, client and node")
    func auditTrailRecordsEveryWrite() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                let (_, seq) = try await NodeAPITests.provision(node, client, serial: "CAM-A")
                try await client.execute(uri: "/api/v1/devices/provision/bulk", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["devices": [["device_serial": "CAM-B1", "device_family": "F"],
                                                                     ["device_serial": "CAM-B2", "device_family": "F"]]])) { r in
                    #expect(r.status == .created)
                }
                try await client.execute(uri: "/api/v1/devices/CAM-A/revoke", method: .post, headers: node.headers(.admin),
                                         body: jsonBody(["reason": "stolen"])) { r in #expect(r.status == .ok) }
                try await client.execute(uri: "/api/v1/devices/CAM-A/reinstate", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                }
                try await client.execute(uri: "/api/v1/key-tables/3/retire", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                }
                var entries: [[String: Any]] = []
                try await client.execute(uri: "/api/v1/audit?limit=1000", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                    entries = jsonObject(r.body)["entries"] as? [[String: Any]] ?? []
                }
                let actions = entries.map { $0["action"] as? String ?? "" }
                #expect(actions == ["key_tables.create", "authority.install", "api_key.create", "api_key.create", "api_key.create",
                                    "device.provision", "device.provision", "device.provision", "device.revoke", "device.reinstate",
                                    "key_table.retire"])
                #expect(entries[0]["api_key_name"] as? String == "sma-node init" && entries[0]["api_key_id"] == nil)
                #expect(entries[2]["api_key_name"] as? String == "sma-node api-key create")
                let provision = entries[5]
                #expect(provision["api_key_name"] as? String == "test-provisioner")
                #expect(provision["role"] as? String == "provisioner")
                #expect(provision["api_key_id"] as? Int != nil)
                #expect(provision["target"] as? String == "CAM-A")
                #expect(provision["log_seq"] as? Int == Int(seq))
                #expect(provision["node_id"] as? String == node.config.nodeID)
                #expect(provision["client_address"] as? String != nil)
                #expect((provision["at"] as? String)?.hasSuffix("Z") == true)
                #expect(entries[6]["detail"] as? String == "bulk provisioning of 2 device(s)")
                #expect(entries[8]["detail"] as? String == "stolen" && entries[8]["role"] as? String == "admin")
                #expect(entries[10]["target"] as? String == "key table 3")
                // No key material in the trail.
                let text = String(decoding: try JSONSerialization.data(withJSONObject: entries), as: UTF8.self)
                for key in node.keys.values { #expect(!text.contains(key)) }

                // Paging, both orders.
                var nextAfter: Int?
                try await client.execute(uri: "/api/v1/audit?limit=4", method: .get, headers: node.headers(.admin)) { r in
                    let page = jsonObject(r.body)
                    #expect((page["entries"] as? [Any])?.count == 4)
                    nextAfter = page["next_after"] as? Int
                }
                try await client.execute(uri: "/api/v1/audit?limit=4&after=\(nextAfter ?? -1)", method: .get, headers: node.headers(.admin)) { r in
                    let page = jsonObject(r.body)["entries"] as? [[String: Any]] ?? []
                    #expect(page.map { $0["action"] as? String ?? "" } == Array(actions[4..<8]))
                }
                try await client.execute(uri: "/api/v1/audit?limit=2&order=desc", method: .get, headers: node.headers(.admin)) { r in
                    let page = jsonObject(r.body)["entries"] as? [[String: Any]] ?? []
                    #expect(page.map { $0["action"] as? String ?? "" } == ["key_table.retire", "device.reinstate"])
                }
                for role in [Role.provisioner, .validator] {
                    try await client.execute(uri: "/api/v1/audit", method: .get, headers: node.headers(role)) { r in
                        #expect(r.status == .forbidden)
                    }
                }
                try await client.execute(uri: "/api/v1/audit?order=sideways", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .unprocessableContent)
                }
            }
        }
    }

    @Test("a write whose audit record cannot be stored is refused and leaves no trace")
    func writeWithoutAuditRecordDoesNotHappen() async throws {
        try await TestNode.with(tables: 10) { node in
            let head = try await node.database.withConnection { c in
                try c.query("ALTER TABLE audit_log ADD CONSTRAINT audit_refused CHECK (false) NOT VALID")
                return try Store.logHead(c)
            }
            try await node.withClient { client in
                try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["device_serial": "CAM-X", "device_family": "F"])) { r in
                    #expect(r.status == .serviceUnavailable)
                    #expect(String(buffer: r.body).contains("audit record could not be stored"))
                }
                try await client.execute(uri: "/api/v1/devices/CAM-X", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .notFound)
                }
            }
            let (headAfter, devices) = try await node.database.withConnection { c in
                (try Store.logHead(c), try c.query("SELECT count(*) FROM devices").first!.decode(0, as: Int.self))
            }
            #expect(headAfter == head)
            #expect(node.runtime.state.applied == head)
            #expect(node.runtime.state.registry.device(serial: DeviceSerial(unchecked: "CAM-X")) == nil)
            #expect(devices == 0)
        }
    }

    @Test("the CRL is public, verifies with openssl against the chain, lists revoked certificates and drops reinstated ones")
    func crlListsRevokedCertificates() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-C")
                let serialHex = try Self.serialHex(file.device_certificate)
                let first = try await Self.crl(client)
                #expect(!first.text.contains(serialHex))
                var revokeSeq: Int64 = 0
                try await client.execute(uri: "/api/v1/devices/CAM-C/revoke", method: .post, headers: node.headers(.admin),
                                         body: jsonBody(["reason": "key compromise"])) { r in
                    revokeSeq = Int64(r.headers[Self.seqHeader] ?? "") ?? 0
                }
                let revoked = try await Self.crl(client, chain: file.certificate_chain)
                #expect(revoked.number > first.number)
                #expect(revoked.number < revokeSeq)      // issued in the revocation's transaction
                #expect(revoked.verified, "\(revoked.text)")
                #expect(revoked.text.contains(serialHex), "\(revoked.text)")
                #expect(revoked.text.contains("Key Compromise"))
                try await client.execute(uri: "/api/v1/crl?format=pem", method: .get) { r in
                    #expect(r.status == .ok)
                    #expect(String(buffer: r.body).hasPrefix("-----BEGIN X509 CRL-----"))
                }
                try await client.execute(uri: "/api/v1/crl?format=xml", method: .get) { r in
                    #expect(r.status == .unprocessableContent)
                }
                try await client.execute(uri: "/api/v1/devices/CAM-C/reinstate", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                }
                let reinstated = try await Self.crl(client, chain: file.certificate_chain)
                #expect(reinstated.number > revoked.number)
                #expect(reinstated.verified)
                #expect(!reinstated.text.contains(serialHex))
            }
        }
    }

    @Test("the leader re-issues the CRL before half of its validity has elapsed, with a higher number")
    func crlIsReissuedOnSchedule() async throws {
        let day = 86_400.0
        #expect(CRLKeeper.isDue(thisUpdateMillis: nil, nowMillis: 0, validitySeconds: day))
        #expect(!CRLKeeper.isDue(thisUpdateMillis: 1_000, nowMillis: 1_000 + 43_199_999, validitySeconds: day))
        #expect(CRLKeeper.isDue(thisUpdateMillis: 1_000, nowMillis: 1_000 + 43_200_000, validitySeconds: day))
        try await TestNode.with(tables: 10) { node in
            let before = try #require(node.runtime.state.crl)
            #expect(before.nextUpdateMillis - before.thisUpdateMillis == 86_400_000)
            let seq = try #require(try await node.runtime.devices!.issueCRL())
            let after = try #require(node.runtime.state.crl)
            #expect(after.number > before.number && seq > after.number)
            // Not audited: a re-issue is no operator action.
            let audited = try await node.database.withConnection { c in
                try c.query("SELECT count(*) FROM audit_log WHERE log_seq = \(seq)").first!.decode(0, as: Int.self)
            }
            #expect(audited == 0)
        }
    }

    // MARK: helpers

    /// The device certificate's serial as openssl prints it (uppercase hex, no leading zero bytes).
    static func serialHex(_ pem: String) throws -> String {
        try Certificate(pemEncoded: pem).serialNumber.bytes.drop { $0 == 0 }.map { String(format: "%02X", $0) }.joined()
    }

    struct CRLView { var number: Int64; var text: String; var verified: Bool }

    static func crl(_ client: any TestClientProtocol, chain: String? = nil) async throws -> CRLView {
        try await client.execute(uri: "/api/v1/crl", method: .get) { r in
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "application/pkix-crl")
            let number = Int64(r.headers[HTTPField.Name("X-SMA-CRL-Number")!] ?? "") ?? -1
            let (text, verified) = try Self.openssl(Array(r.body.readableBytesView), chain: chain)
            return CRLView(number: number, text: text, verified: verified)
        }
    }

    /// `openssl crl -inform DER [-CAfile chain -verify] -noout -text`: its output, and whether it said `verify OK`.
    static func openssl(_ der: [UInt8], chain: String?) throws -> (String, Bool) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sma-crl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let crlPath = dir.appendingPathComponent("crl.der").path
        try Data(der).write(to: URL(fileURLWithPath: crlPath))
        var args = ["crl", "-inform", "DER", "-in", crlPath, "-noout", "-text"]
        if let chain {
            let chainPath = dir.appendingPathComponent("chain.pem").path
            try chain.write(toFile: chainPath, atomically: true, encoding: .utf8)
            args += ["-CAfile", chainPath, "-verify"]
        }
        let result = try run("/usr/bin/openssl", args)
        return (result.output, result.status == 0 && result.output.contains("verify OK"))
    }
}
