import Core
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

/// One node, real PostgreSQL, the public API end to end.
@Suite(.serialized) struct NodeAPITests {
    /// Provisions a device through the API; returns the provisioning file and X-SMA-Seq.
    static func provision(_ node: TestNode, _ client: any TestClientProtocol, serial: String) async throws -> (ProvisionResponse, Int64) {
        let body: [String: Any] = ["device_serial": serial, "device_family": "Raspberry Pi"]
        return try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner), body: jsonBody(body)) { r in
            #expect(r.status == .created, "\(String(buffer: r.body))")
            let required = ["device_serial", "device_family", "nuc_hash", "device_certificate", "certificate_chain",
                            "device_private_key", "device_public_key", "table_assignments", "master_keys"]
            let object = jsonObject(r.body)
            for field in required { #expect(object[field] != nil, "missing \(field)") }
            return (decode(ProvisionResponse.self, r.body)!, Int64(r.headers[HTTPField.Name("X-SMA-Seq")!] ?? "") ?? -1)
        }
    }

    static func token(from file: ProvisionResponse, tableSlot: Int = 0, keyIndex: Int = 7) -> ValidationRequest.Token {
        let table = file.table_assignments[tableSlot]
        return cameraToken(nucHex: file.nuc_hash, masterHex: file.master_keys[String(table)]!, table: table, keyIndex: keyIndex)
    }

    static func validate(_ node: TestNode, _ client: any TestClientProtocol, _ token: ValidationRequest.Token, role: Role? = .validator) async throws -> (HTTPResponse.Status, ValidationResponse?) {
        try await client.execute(uri: "/validate", method: .post, headers: node.headers(role), body: validationBody(token)) { r in
            (r.status, decode(ValidationResponse.self, r.body))
        }
    }

    @Test func provisionedCameraTokenPassesAndTamperedTokenFails() async throws {
        try await TestNode.with() { node in
            try await node.withClient { client in
                let (file, seq) = try await Self.provision(node, client, serial: "CAM-0001")
                #expect(seq > 2)
                #expect(Set(file.table_assignments).count == 3)
                for slot in 0..<3 {
                    let (status, answer) = try await Self.validate(node, client, Self.token(from: file, tableSlot: slot, keyIndex: 999))
                    #expect(status == .ok && answer?.valid == true, "\(String(describing: answer))")
                }
                var tampered = Self.token(from: file)
                tampered.auth_tag = String(repeating: "0", count: 32)
                let (status, answer) = try await Self.validate(node, client, tampered)
                #expect(status == .ok && answer?.valid == false)
                #expect(answer?.message.contains(tampered.ciphertext) == false)
            }
        }
    }

    @Test func revokedDeviceFailsAndReinstatedDevicePasses() async throws {
        try await TestNode.with(tables: 50) { node in
            try await node.withClient { client in
                let (file, _) = try await Self.provision(node, client, serial: "CAM-R")
                let token = Self.token(from: file)
                try await client.execute(uri: "/api/v1/devices/CAM-R/revoke", method: .post, headers: node.headers(.admin),
                                         body: jsonBody(["reason": "stolen"])) { r in
                    #expect(r.status == .ok)
                    #expect(r.headers[HTTPField.Name("X-SMA-Seq")!] != nil)
                }
                let revokedAnswer = try await Self.validate(node, client, token).1
                #expect(revokedAnswer?.valid == false)
                try await client.execute(uri: "/api/v1/devices/CAM-R", method: .get, headers: node.headers(.provisioner)) { r in
                    let d = jsonObject(r.body)
                    #expect(d["revoked"] as? Bool == true && d["revocation_reason"] as? String == "stolen")
                    #expect(d["nuc_hash"] == nil && d["master_keys"] == nil)
                }
                try await client.execute(uri: "/api/v1/devices/CAM-R/reinstate", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                }
                let reinstatedAnswer = try await Self.validate(node, client, token).1
                #expect(reinstatedAnswer?.valid == true)
                try await client.execute(uri: "/api/v1/devices/NOPE/revoke", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .notFound)
                }
            }
        }
    }

    @Test func duplicateSerialOrNUCHashIs409AndBulkIsAllOrNothing() async throws {
        try await TestNode.with(tables: 50) { node in
            try await node.withClient { client in
                let (file, _) = try await Self.provision(node, client, serial: "CAM-D")
                try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["device_serial": "CAM-D", "device_family": "F"])) { r in
                    #expect(r.status == .conflict)
                    #expect((jsonObject(r.body)["error"] as? [String: Any])?["field"] as? String == "device_serial")
                }
                try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["device_serial": "CAM-E", "device_family": "F", "nuc_hash": file.nuc_hash])) { r in
                    #expect(r.status == .conflict)
                }
                let batch = ["devices": [["device_serial": "B-1", "device_family": "F"], ["device_serial": "B-1", "device_family": "F"]]]
                try await client.execute(uri: "/api/v1/devices/provision/bulk", method: .post, headers: node.headers(.provisioner), body: jsonBody(batch)) { r in
                    #expect(r.status == .conflict)
                    #expect((jsonObject(r.body)["error"] as? [String: Any])?["field"] as? String == "devices[1].device_serial")
                }
                #expect(node.runtime.state.registry.device(serial: DeviceSerial(unchecked: "B-1")) == nil)
                let good = ["devices": (0..<20).map { ["device_serial": "B-\($0 + 10)", "device_family": "F"] }]
                try await client.execute(uri: "/api/v1/devices/provision/bulk", method: .post, headers: node.headers(.provisioner), body: jsonBody(good)) { r in
                    #expect(r.status == .created)
                    #expect((jsonObject(r.body)["devices"] as? [Any])?.count == 20)
                }
                #expect(node.runtime.state.registry.counts.devices == 21)
            }
        }
    }

    @Test func callersNeedAKeyWithTheRightRole() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                let token = cameraToken(nucHex: String(repeating: "11", count: 32), masterHex: String(repeating: "22", count: 32), table: 1, keyIndex: 1)
                let keylessStatus = try await Self.validate(node, client, token, role: nil).0
                #expect(keylessStatus == .unauthorized)
                var bad = node.headers(nil)
                bad[.authorization] = "Bearer sma_not_a_key"
                try await client.execute(uri: "/validate", method: .post, headers: bad, body: validationBody(token)) { r in
                    #expect(r.status == .unauthorized)
                }
                try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.validator),
                                         body: jsonBody(["device_serial": "X", "device_family": "F"])) { r in
                    #expect(r.status == .forbidden)
                }
                try await client.execute(uri: "/stats", method: .get, headers: node.headers(.provisioner)) { r in #expect(r.status == .forbidden) }
                try await client.execute(uri: "/stats", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                    #expect((jsonObject(r.body)["memory"] as? [String: Any])?["key_tables"] as? Int == 10)
                }
                let adminStatus = try await Self.validate(node, client, token, role: .admin).0
                #expect(adminStatus == .ok)
            }
        }
    }

    @Test func anonymousValidationOnlyWhenEnabled() async throws {
        try await TestNode.with(tables: 10, anonymous: true) { node in
            try await node.withClient { client in
                let token = cameraToken(nucHex: String(repeating: "11", count: 32), masterHex: String(repeating: "22", count: 32), table: 1, keyIndex: 1)
                let (status, answer) = try await Self.validate(node, client, token, role: nil)
                #expect(status == .ok && answer?.valid == false)
                try await client.execute(uri: "/validate-cert", method: .post, headers: node.headers(nil), body: jsonBody([:])) { r in
                    #expect(r.status == .unauthorized)
                }
            }
        }
    }

    @Test func malformedRequestsGet4xxNamingTheFieldNever5xx() async throws {
        try await TestNode.with(tables: 2500) { node in
            try await node.withClient { client in
                let good: [String: Any] = ["ciphertext": String(repeating: "ab", count: 32), "auth_tag": String(repeating: "cd", count: 16),
                                           "nonce": String(repeating: "01", count: 12), "table_id": 2499, "key_index": 999]
                func expect(_ body: ByteBuffer, _ status: HTTPResponse.Status, field: String?) async throws {
                    try await client.execute(uri: "/validate", method: .post, headers: node.headers(.validator), body: body) { r in
                        #expect(r.status == status, "\(String(buffer: r.body))")
                        let err = jsonObject(r.body)["error"] as? [String: Any]
                        #expect(err?["field"] as? String == field, "\(String(buffer: r.body))")
                    }
                }
                try await expect(validationBody(good), .ok, field: nil)
                try await expect(ByteBuffer(string: "{not json"), .badRequest, field: nil)
                try await expect(jsonBody(["manufacturer_authority_id": "X"]), .unprocessableContent, field: "camera_token")
                var t = good; t.removeValue(forKey: "nonce")
                try await expect(validationBody(t), .unprocessableContent, field: "camera_token.nonce")
                t = good; t["ciphertext"] = "abcd"
                try await expect(validationBody(t), .unprocessableContent, field: "camera_token.ciphertext")
                t = good; t["auth_tag"] = String(repeating: "g", count: 32)
                try await expect(validationBody(t), .unprocessableContent, field: "camera_token.auth_tag")
                t = good; t["table_id"] = 2500
                try await expect(validationBody(t), .unprocessableContent, field: "camera_token.table_id")
                t = good; t["key_index"] = 1000
                try await expect(validationBody(t), .unprocessableContent, field: "camera_token.key_index")
                t = good; t["key_index"] = "7"
                try await expect(validationBody(t), .unprocessableContent, field: "camera_token.key_index")
                try await expect(ByteBuffer(string: "{\"camera_token\": \"" + String(repeating: "a", count: 70_000) + "\"}"), .contentTooLarge, field: nil)

                // Random mutations of a valid body: never a 5xx.
                let valid = Array(String(buffer: validationBody(good)).utf8)
                var rng = SystemRandomNumberGenerator()
                for _ in 0..<300 {
                    let bytes = randomlyMutated(valid, using: &rng)
                    try await client.execute(uri: "/validate", method: .post, headers: node.headers(.validator), body: ByteBuffer(bytes: bytes)) { r in
                        #expect(r.status.code < 500, "\(String(decoding: bytes, as: UTF8.self)) -> \(r.status)")
                    }
                }
                try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["device_serial": "A", "device_family": "F", "nuc_hash": "zz"])) { r in
                    #expect(r.status == .unprocessableContent)
                    #expect((jsonObject(r.body)["error"] as? [String: Any])?["field"] as? String == "nuc_hash")
                }
                try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["device_serial": "A\nB", "device_family": "F"])) { r in
                    #expect(r.status == .unprocessableContent)
                }
                try await client.execute(uri: "/api/v1/devices?limit=0", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .unprocessableContent)
                }
            }
        }
    }

    @Test func batchValidationAnswersEachTokenInOrder() async throws {
        try await TestNode.with(tables: 20) { node in
            try await node.withClient { client in
                let (file, _) = try await Self.provision(node, client, serial: "CAM-B")
                var bad = Self.token(from: file)
                bad.nonce = String(repeating: "00", count: 12)
                struct Batch: Encodable { var tokens: [ValidationRequest.Token] }
                let batch = Batch(tokens: [Self.token(from: file), bad, Self.token(from: file, tableSlot: 2)])
                try await client.execute(uri: "/v1/validate/batch", method: .post, headers: node.headers(.validator),
                                         body: ByteBuffer(bytes: try JSONEncoder().encode(batch))) { r in
                    #expect(r.status == .ok)
                    let results = (jsonObject(r.body)["results"] as? [[String: Any]])?.map { $0["valid"] as? Bool }
                    #expect(results == [true, false, true])
                }
            }
        }
    }

    @Test func certificateBundleOfAProvisionedCameraValidates() async throws {
        try await TestNode.with(tables: 20) { node in
            try await node.withClient { client in
                let (file, _) = try await Self.provision(node, client, serial: "CAM-C")
                let key = try P256.Signing.PrivateKey(pemRepresentation: file.device_private_key!)
                let certB64 = Data(file.device_certificate.utf8).base64EncodedString()
                let imageHash = String(repeating: "ab", count: 32)
                let message = "\(imageHash)\n\(certB64)\n1732000000\n\n"
                let sig = try key.signature(for: Array(message.utf8)).derRepresentation.base64EncodedString()
                try await client.execute(uri: "/validate-cert", method: .post, headers: node.headers(.validator),
                                         body: jsonBody(["camera_cert": certB64, "image_hash": imageHash, "timestamp": 1_732_000_000, "bundle_signature": sig])) { r in
                    #expect(jsonObject(r.body)["valid"] as? Bool == true, "\(String(buffer: r.body))")
                }
                try await client.execute(uri: "/validate-cert", method: .post, headers: node.headers(.validator),
                                         body: jsonBody(["camera_cert": certB64, "image_hash": imageHash, "timestamp": 1_732_000_001, "bundle_signature": sig])) { r in
                    #expect(jsonObject(r.body)["valid"] as? Bool == false)
                }
            }
        }
    }

    @Test func minSeqBeyondWhatIsAppliedGets503WithRetryAfter() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                var h = node.headers(.admin)
                h[HTTPField.Name("X-SMA-Min-Seq")!] = "999999"
                try await client.execute(uri: "/api/v1/devices", method: .get, headers: h) { r in
                    #expect(r.status == .serviceUnavailable)
                    #expect(r.headers[.retryAfter] == "1")
                }
                h[HTTPField.Name("X-SMA-Min-Seq")!] = "1"
                try await client.execute(uri: "/api/v1/devices", method: .get, headers: h) { r in #expect(r.status == .ok) }
            }
        }
    }
}
