import SMATestSupport
import Core
import Crypto
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

/// The `birthmark` compatibility profile: what today's Birthmark aggregator and the original SMA's scripts need,
/// and nothing more (docs/ARCHITECTURE.md §4.8).
@Suite(.serialized) struct BirthmarkProfileTests {
    static func birthmark(_ config: inout NodeConfiguration) { config.compatibility = .birthmark }

    /// A certificate bundle exactly as the aggregator posts it (base64 of the PEM certificate, canonical signed text).
    static func certificateBundle(_ file: ProvisionResponse, timestamp: Int64 = 1_732_000_000) throws -> ByteBuffer {
        let key = try P256.Signing.PrivateKey(pemRepresentation: file.device_private_key!)
        let certB64 = Data(file.device_certificate.utf8).base64EncodedString()
        let imageHash = String(repeating: "ab", count: 32)
        let sig = try key.signature(for: Array("\(imageHash)\n\(certB64)\n\(timestamp)\n\n".utf8)).derRepresentation.base64EncodedString()
        return jsonBody(["camera_cert": certB64, "image_hash": imageHash, "timestamp": timestamp, "bundle_signature": sig])
    }

    static func batchBody(_ tokens: [ValidationRequest.Token]) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONEncoder().encode(["tokens": tokens]))
    }

    @Test func keylessValidationNeedsTheBirthmarkProfile() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-K")
                let token = NodeAPITests.token(from: file)
                #expect(try await NodeAPITests.validate(node, client, token, role: nil).0 == .unauthorized)
                try await client.execute(uri: "/v1/validate/batch", method: .post, headers: node.headers(nil), body: Self.batchBody([token])) { r in
                    #expect(r.status == .unauthorized)
                }
                try await client.execute(uri: "/validate-cert", method: .post, headers: node.headers(nil), body: try Self.certificateBundle(file)) { r in
                    #expect(r.status == .unauthorized)
                }
                // Without the profile the original's routes are not served.
                try await client.execute(uri: "/health", method: .get) { r in #expect(r.status == .notFound) }
            }
        }
        try await TestNode.with(tables: 10, configure: Self.birthmark) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-K")
                let token = NodeAPITests.token(from: file)
                let (status, answer) = try await NodeAPITests.validate(node, client, token, role: nil)
                #expect(status == .ok && answer?.valid == true)
                try await client.execute(uri: "/v1/validate/batch", method: .post, headers: node.headers(nil), body: Self.batchBody([token])) { r in
                    #expect(r.status == .ok)
                    #expect(((jsonObject(r.body)["results"] as? [[String: Any]])?.first?["valid"] as? Bool) == true, "\(String(buffer: r.body))")
                }
                try await client.execute(uri: "/validate-cert", method: .post, headers: node.headers(nil), body: try Self.certificateBundle(file)) { r in
                    #expect(r.status == .ok && jsonObject(r.body)["valid"] as? Bool == true, "\(String(buffer: r.body))")
                }
                var tampered = token
                tampered.auth_tag = String(repeating: "0", count: 32)
                #expect(try await NodeAPITests.validate(node, client, tampered, role: nil).1?.valid == false)
            }
        }
    }

    @Test func theProfileOpensNothingButValidation() async throws {
        try await TestNode.with(tables: 10, configure: Self.birthmark) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-A")
                for (uri, method) in [("/stats", HTTPRequest.Method.get), ("/api/v1/devices", .get), ("/api/v1/devices/provision", .post),
                                      ("/api/devices/CAM-A/status", .get), ("/api/admin/blacklist", .get), ("/api/admin/blacklist/CAM-A", .post),
                                      ("/api/admin/blacklist/CAM-A", .delete), ("/api/admin/abuse/check", .get), ("/api/admin/abuse/report", .get)] {
                    try await client.execute(uri: uri, method: method, headers: node.headers(nil),
                                             body: method == .post ? jsonBody(["device_serial": "X", "device_family": "F"]) : nil) { r in
                        #expect(r.status == .unauthorized, "\(method) \(uri) without a key: \(r.status)")
                    }
                }
                // The original's admin routes keep our roles: a validator key is refused.
                for (uri, method) in [("/api/devices/CAM-A/status", HTTPRequest.Method.get), ("/api/admin/blacklist", .get),
                                      ("/api/admin/blacklist/CAM-A", .post), ("/api/admin/blacklist/CAM-A", .delete),
                                      ("/api/admin/abuse/check", .get), ("/api/admin/abuse/report", .get), ("/stats", .get)] {
                    try await client.execute(uri: uri, method: method, headers: node.headers(.validator)) { r in
                        #expect(r.status == .forbidden, "\(method) \(uri) with a validator key: \(r.status)")
                    }
                }
                #expect(try await NodeAPITests.validate(node, client, NodeAPITests.token(from: file), role: nil).1?.valid == true)
                try await client.execute(uri: "/health", method: .get) { r in
                    let o = jsonObject(r.body)
                    #expect(r.status == .ok && o["status"] as? String == "healthy")
                    #expect(o["total_devices"] as? Int == 1 && o["total_tables"] as? Int == 10 && o["timestamp"] is String && o["service"] is String)
                }
                try await client.execute(uri: "/", method: .get) { r in
                    #expect(r.status == .ok && jsonObject(r.body)["compatibility"] as? String == "birthmark")
                    #expect(jsonObject(r.body)["service"] is String && jsonObject(r.body)["version"] is String && jsonObject(r.body)["status"] as? String == "running")
                }
            }
        }
    }

    @Test func keylessCallersAreRateLimitedPerAddress() async throws {
        try await TestNode.with(tables: 10, configure: { $0.compatibility = .birthmark; $0.rateLimitPerSecond = 1 }) { node in
            try await node.withClient { client in
                let token = cameraToken(nucHex: String(repeating: "11", count: 32), masterHex: String(repeating: "22", count: 32), table: 1, keyIndex: 1)
                var statuses: [HTTPResponse.Status] = []
                for _ in 0..<4 { statuses.append(try await NodeAPITests.validate(node, client, token, role: nil).0) }
                #expect(statuses.contains(.tooManyRequests), "\(statuses)")
                try await client.execute(uri: "/validate-cert", method: .post, headers: node.headers(nil), body: jsonBody([:])) { r in
                    #expect(r.status == .tooManyRequests)
                }
            }
        }
    }

    /// Provisions `count` devices in one bulk request; returns every assigned table id.
    static func provisionTables(_ node: TestNode, _ client: any TestClientProtocol, count: Int) async throws -> [Int] {
        let devices = (0..<count).map { ["device_serial": "CAM-T\($0)", "device_family": "Raspberry Pi"] }
        return try await client.execute(uri: "/api/v1/devices/provision/bulk", method: .post, headers: node.headers(.provisioner),
                                        body: jsonBody(["devices": devices])) { r in
            #expect(r.status == .created, "\(String(buffer: r.body))")
            return ((jsonObject(r.body)["devices"] as? [[String: Any]]) ?? []).flatMap { $0["table_assignments"] as? [Int] ?? [] }
        }
    }

    @Test func newDevicesGetTablesBelow250InTheProfileAndAnyOf2500Otherwise() async throws {
        try await TestNode.with(tables: 2500, configure: Self.birthmark) { node in
            try await node.withClient { client in
                let tables = try await Self.provisionTables(node, client, count: 40)
                #expect(tables.count == 120 && tables.allSatisfy { $0 < 250 }, "\(tables.filter { $0 >= 250 })")
            }
        }
        try await TestNode.with(tables: 2500) { node in
            try await node.withClient { client in
                let tables = try await Self.provisionTables(node, client, count: 40)
                // 120 draws from 2,500 all below 250 has probability 0.1^120.
                #expect(tables.count == 120 && tables.contains { $0 >= 250 } && tables.allSatisfy { (0..<2500).contains($0) })
            }
        }
        // An explicit bound wins over the profile's.
        try await TestNode.with(tables: 20, configure: { $0.compatibility = .birthmark; $0.assignTablesBelow = 4 }) { node in
            try await node.withClient { client in
                let tables = try await Self.provisionTables(node, client, count: 5)
                #expect(tables.count == 15 && tables.allSatisfy { $0 < 4 })
            }
        }
    }

    @Test func originalRoutesAnswerWithTheOriginalFieldNames() async throws {
        try await TestNode.with(tables: 20, configure: Self.birthmark) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-O")
                #expect(try await NodeAPITests.validate(node, client, NodeAPITests.token(from: file), role: nil).1?.valid == true)
                try await client.execute(uri: "/api/devices/CAM-O/status", method: .get, headers: node.headers(.admin)) { r in
                    let o = jsonObject(r.body)
                    #expect(r.status == .ok)
                    for field in ["is_blacklisted", "blacklisted_at", "blacklist_reason", "submissions_24h", "submissions_total", "key_table_indices"] {
                        #expect(o.keys.contains(field), "missing \(field): \(o)")
                    }
                    #expect(o["is_blacklisted"] as? Bool == false)
                    #expect(o["key_table_indices"] as? [Int] == file.table_assignments)
                }
                try await client.execute(uri: "/stats", method: .get, headers: node.headers(.admin)) { r in
                    let o = jsonObject(r.body)
                    for field in ["total_devices", "devices_by_family", "total_table_assignments", "unique_tables_used", "table_statistics",
                                  "node_id", "database", "memory"] {
                        #expect(o[field] != nil, "missing \(field)")
                    }
                    #expect(o["total_devices"] as? Int == 1 && o["total_table_assignments"] as? Int == 3 && o["unique_tables_used"] as? Int == 3)
                    #expect((o["devices_by_family"] as? [String: Int])?["Raspberry Pi"] == 1)
                }
                try await client.execute(uri: "/api/admin/abuse/check", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok && jsonObject(r.body)["flagged"] is [Any])
                }
                try await client.execute(uri: "/api/admin/abuse/report", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok && jsonObject(r.body)["devices"] is [Any])
                }
            }
        }
        // Without the profile, /stats keeps only our fields.
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                try await client.execute(uri: "/stats", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok && jsonObject(r.body)["total_devices"] == nil)
                }
            }
        }
    }

    @Test func blacklistPostAndDeleteRevokeAndReinstateWithAudit() async throws {
        try await TestNode.with(tables: 20, configure: Self.birthmark) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-B")
                let token = NodeAPITests.token(from: file)
                try await client.execute(uri: "/api/admin/blacklist/CAM-B?reason=stolen%20camera", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok, "\(String(buffer: r.body))")
                    #expect(jsonObject(r.body)["is_blacklisted"] as? Bool == true && jsonObject(r.body)["changed"] as? Bool == true)
                }
                #expect(try await NodeAPITests.validate(node, client, token, role: nil).1?.valid == false)
                try await client.execute(uri: "/api/devices/CAM-B/status", method: .get, headers: node.headers(.admin)) { r in
                    let o = jsonObject(r.body)
                    #expect(o["is_blacklisted"] as? Bool == true && o["blacklist_reason"] as? String == "stolen camera" && o["blacklisted_at"] is String)
                }
                try await client.execute(uri: "/api/admin/blacklist", method: .get, headers: node.headers(.admin)) { r in
                    let devices = jsonObject(r.body)["devices"] as? [[String: Any]] ?? []
                    #expect(devices.first?["device_serial"] as? String == "CAM-B" && devices.first?["blacklist_reason"] as? String == "stolen camera")
                }
                try await client.execute(uri: "/api/admin/blacklist/CAM-B", method: .delete, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok && jsonObject(r.body)["is_blacklisted"] as? Bool == false && jsonObject(r.body)["changed"] as? Bool == true)
                }
                #expect(try await NodeAPITests.validate(node, client, token, role: nil).1?.valid == true)
                try await client.execute(uri: "/api/admin/blacklist/NOPE", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .notFound)
                }
                try await client.execute(uri: "/api/v1/audit?order=desc&limit=10", method: .get, headers: node.headers(.admin)) { r in
                    let entries = jsonObject(r.body)["entries"] as? [[String: Any]] ?? []
                    let actions = entries.filter { $0["target"] as? String == "CAM-B" }.compactMap { $0["action"] as? String }
                    #expect(actions.contains("device.revoke") && actions.contains("device.reinstate"), "\(entries)")
                    #expect(entries.contains { $0["action"] as? String == "device.revoke" && $0["api_key_name"] as? String == "test-admin" })
                }
            }
        }
    }

    /// A token as the phone makes it: AES-GCM of its secret under one of the derived keys it was given.
    static func phoneToken(secretHex: String, keyHex: String, table: Int, keyIndex: Int) throws -> ValidationRequest.Token {
        let box = try AES.GCM.seal(Hex.decode(secretHex)!, using: SymmetricKey(data: Hex.decode(keyHex)!))
        return .init(ciphertext: Hex.encode(box.ciphertext), auth_tag: Hex.encode(box.tag), nonce: Hex.encode(Array(box.nonce)),
                     table_id: table, key_index: keyIndex)
    }

    @Test func phase2DeviceSecretProvisionsKeyTablesWhoseTokensPassAndTheSecretIsNotKept() async throws {
        let capture = LogCapture()
        try await TestNode.with(tables: 2500, logger: capture.logger(), configure: Self.birthmark) { node in
            let secret = Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
            let logMark = NUCDigestStorageTests.postgresLogSize(node)
            try await node.withClient { client in
                // Like all provisioning, phase 2 needs the provisioner key.
                try await client.execute(uri: "/api/v1/devices/provision-phase2", method: .post, headers: node.headers(nil),
                                         body: jsonBody(["device_serial": "PHONE-1", "device_family": "iPhone", "device_secret": secret])) { r in
                    #expect(r.status == .unauthorized)
                }
                let answer = try await client.execute(uri: "/api/v1/devices/provision-phase2", method: .post, headers: node.headers(.provisioner),
                                                      body: jsonBody(["device_serial": "PHONE-1", "device_family": "iPhone", "device_secret": secret])) { r in
                    #expect(r.status == .created, "\(String(buffer: r.body))")
                    return jsonObject(r.body)
                }
                #expect(answer["device_secret"] as? String == secret)
                let indices = try #require(answer["key_table_indices"] as? [Int])
                let keyTables = try #require(answer["key_tables"] as? [[String]])
                #expect(indices.count == 3 && indices.allSatisfy { $0 < 250 })
                #expect(keyTables.count == 3 && keyTables.allSatisfy { $0.count == 1000 })
                for (slot, table) in indices.enumerated() {
                    let master = try #require(node.runtime.state.registry.masterKey(table: table))
                    for i in [0, 1, 500, 999] {
                        let ours = KeyDerivation.derivedKey(masterKey: master, keyIndex: i).withUnsafeBytes { Hex.encode(Array($0)) }
                        #expect(keyTables[slot][i] == ours)
                    }
                }
                // A token made from the handed-out keys PASSes (no key, as the aggregator sends it); a wrong secret FAILs.
                for slot in 0..<3 {
                    let token = try Self.phoneToken(secretHex: secret, keyHex: keyTables[slot][123], table: indices[slot], keyIndex: 123)
                    #expect(try await NodeAPITests.validate(node, client, token, role: nil).1?.valid == true)
                }
                let wrong = Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
                let forged = try Self.phoneToken(secretHex: wrong, keyHex: keyTables[0][5], table: indices[0], keyIndex: 5)
                #expect(try await NodeAPITests.validate(node, client, forged, role: nil).1?.valid == false)
                // The path the phone app uses works too; a second device with the same secret is refused without echoing it.
                try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["device_serial": "PHONE-2", "device_family": "iPhone", "device_secret": secret])) { r in
                    #expect(r.status == .conflict && !String(buffer: r.body).contains(secret))
                }
                try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["device_serial": "PHONE-3", "device_family": "iPhone", "device_secret": "zz"])) { r in
                    #expect(r.status == .unprocessableContent && !String(buffer: r.body).contains(secret))
                    #expect((jsonObject(r.body)["error"] as? [String: Any])?["field"] as? String == "device_secret")
                }
                // Bulk provisioning takes no device secrets (each answer would carry 3,000 keys).
                try await client.execute(uri: "/api/v1/devices/provision/bulk", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["devices": [["device_serial": "PHONE-B", "device_family": "iPhone",
                                                                      "device_secret": String(repeating: "cd", count: 32)]]])) { r in
                    #expect(r.status == .unprocessableContent)
                    #expect((jsonObject(r.body)["error"] as? [String: Any])?["field"] as? String == "devices[0].device_secret")
                }
                for uri in ["/api/v1/devices/PHONE-1", "/api/devices/PHONE-1/status", "/stats", "/api/v1/audit?limit=100"] {
                    try await client.execute(uri: uri, method: .get, headers: node.headers(.admin)) { r in
                        #expect(r.status == .ok && !String(buffer: r.body).contains(secret), "\(uri)")
                    }
                }
            }
            try await NUCDigestStorageTests.expectNowhere(secret, in: node.database)
            let pulled = try await node.runtime.store.entries(after: 0, limit: 5_000)
            #expect(!pulled.contains { String(decoding: $0.payload, as: UTF8.self).contains(secret) })
            if let log = NUCDigestStorageTests.postgresLog(node, from: logMark) { #expect(!log.contains(secret)) }
            let logged = capture.recorded
            #expect(logged.contains { $0.message == "device provisioned" })
            #expect(!logged.contains { $0.message.contains(secret) || $0.metadata.values.contains { $0.contains(secret) } })
        }
        // Outside the profile the field is refused, not ignored.
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["device_serial": "PHONE-X", "device_family": "iPhone", "device_secret": String(repeating: "ab", count: 32)])) { r in
                    #expect(r.status == .unprocessableContent)
                    #expect((jsonObject(r.body)["error"] as? [String: Any])?["field"] as? String == "device_secret")
                }
            }
        }
    }

    @Test("compatibility and assign_tables_below load from the config file; a wrong value stops start-up naming the key")
    func compatibilityConfiguration() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sma-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("config.json").path
        let base = #"{"database_url": "postgresql://x@127.0.0.1/sma", "kek_file": "/k""#
        try Data((base + "}").utf8).write(to: URL(fileURLWithPath: path))
        let plain = try NodeConfiguration.load(path: path, environment: [:])
        #expect(plain.compatibility == .none && plain.effectiveAssignTablesBelow == nil && !plain.effectiveAnonymousValidation)
        try Data((base + #", "compatibility": "birthmark"}"#).utf8).write(to: URL(fileURLWithPath: path))
        let profile = try NodeConfiguration.load(path: path, environment: [:])
        #expect(profile.effectiveAssignTablesBelow == 250 && profile.effectiveAnonymousValidation && profile.anonymousCertificateValidation)
        #expect(try NodeConfiguration.load(path: path, environment: ["SMA_ASSIGN_TABLES_BELOW": "100"]).effectiveAssignTablesBelow == 100)
        try Data((base + #", "compatibility": "birthmark-2"}"#).utf8).write(to: URL(fileURLWithPath: path))
        #expect((#expect(throws: ConfigurationError.self) { try NodeConfiguration.load(path: path, environment: [:]) })?.key == "compatibility")
        try Data((base + #", "assign_tables_below": 2}"#).utf8).write(to: URL(fileURLWithPath: path))
        #expect((#expect(throws: ConfigurationError.self) { try NodeConfiguration.load(path: path, environment: [:]) })?.key == "assign_tables_below")
    }
}
