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

/// Today's camera-pi and aggregator, byte for byte: legacy tokens on `/validate` and `/validate-legacy`, DER certificates
/// and camera-pi's signature text on `/validate-cert` (docs/ARCHITECTURE.md §1.3, §1.6).
@Suite(.serialized) struct LegacyValidationAPITests {
    /// What the aggregator posts for a camera-pi token sealed under `tables[position]`: the packed
    /// `ciphertext(32) || nonce(12) || auth_tag(16)`, base64-encoded by the camera, then hex of that text's UTF-8 bytes
    /// (or, `base64: false`, hex of the 60 bytes); the other two positions carry random key indices.
    static func legacyBody(nucHex: String, masterHex: String, tables: [Int], position: Int, keyIndex: Int = 500,
                           base64: Bool = true, tamper: Bool = false) -> [String: Any] {
        let t = cameraToken(nucHex: nucHex, masterHex: masterHex, table: tables[position], keyIndex: keyIndex)
        var packed = Hex.decode(t.ciphertext)! + Hex.decode(t.nonce)! + Hex.decode(t.auth_tag)!
        if tamper { packed[59] ^= 0x80 }
        let ciphertext = base64 ? Hex.encode(Array(Data(packed).base64EncodedString().utf8)) : Hex.encode(packed)
        var indices = (0..<3).map { _ in Int.random(in: 0..<1000) }
        indices[position] = keyIndex
        return ["ciphertext": ciphertext, "table_references": tables, "key_indices": indices]
    }

    static func post(_ node: TestNode, _ client: any TestClientProtocol, _ uri: String, _ body: [String: Any]) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await client.execute(uri: uri, method: .post, headers: node.headers(.validator), body: jsonBody(body)) { r in
            (r.status, jsonObject(r.body))
        }
    }

    @Test func cameraPiLegacyTokensPassOnBothRoutesWithTheRealKeyAtEveryPosition() async throws {
        try await TestNode.with(tables: 2500) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-PI")
                let tables = file.table_assignments
                for uri in ["/validate", "/validate-legacy"] {
                    for base64 in [true, false] {
                        for position in 0..<3 {
                            let body = Self.legacyBody(nucHex: file.nuc_hash, masterHex: file.master_keys[String(tables[position])]!,
                                                       tables: tables, position: position, base64: base64)
                            #expect((body["ciphertext"] as! String).count == (base64 ? 160 : 120))
                            let (status, answer) = try await Self.post(node, client, uri, body)
                            #expect(status == .ok && answer["valid"] as? Bool == true, "\(uri) \(position) \(answer)")
                        }
                    }
                }
            }
        }
    }

    @Test func tamperedUnknownRevokedAndForeignTableLegacyTokensFail() async throws {
        try await TestNode.with(tables: 2500) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-L")
                let tables = file.table_assignments
                let master = { (t: Int) in file.master_keys[String(t)]! }
                func expectFail(_ body: [String: Any], _ message: String) async throws {
                    for uri in ["/validate", "/validate-legacy"] {
                        let (status, answer) = try await Self.post(node, client, uri, body)
                        #expect(status == .ok && answer["valid"] as? Bool == false, "\(uri) \(answer)")
                        #expect(answer["message"] as? String == message)
                        #expect(!(answer["message"] as? String ?? "").contains(body["ciphertext"] as! String))
                    }
                }
                try await expectFail(Self.legacyBody(nucHex: file.nuc_hash, masterHex: master(tables[1]), tables: tables, position: 1, tamper: true),
                                     FailureReason.authenticationFailed.message)
                try await expectFail(Self.legacyBody(nucHex: String(repeating: "5e", count: 32), masterHex: master(tables[0]), tables: tables, position: 0),
                                     FailureReason.unknownDevice.message)
                // A pair that opens, but under a table this device does not hold.
                let foreign = (0..<2500).first { !tables.contains($0) }!
                let foreignMaster = node.runtime.state.registry.masterKey(table: foreign)!.hex
                try await expectFail(Self.legacyBody(nucHex: file.nuc_hash, masterHex: foreignMaster, tables: [tables[0], foreign, tables[2]], position: 1),
                                     FailureReason.tableNotAssigned.message)
                // Sealed under one of its tables but referenced under another id: nothing opens.
                try await expectFail(Self.legacyBody(nucHex: file.nuc_hash, masterHex: master(tables[2]), tables: [tables[0], tables[1], foreign], position: 2),
                                     FailureReason.authenticationFailed.message)
                try await client.execute(uri: "/api/v1/devices/CAM-L/revoke", method: .post, headers: node.headers(.admin),
                                         body: jsonBody(["reason": "stolen"])) { r in #expect(r.status == .ok) }
                try await expectFail(Self.legacyBody(nucHex: file.nuc_hash, masterHex: master(tables[2]), tables: tables, position: 2),
                                     FailureReason.revoked.message)
            }
        }
    }

    @Test func malformedLegacyBodiesGet4xxNamingTheFieldAndFuzzNever5xx() async throws {
        try await TestNode.with(tables: 2500) { node in
            try await node.withClient { client in
                let good = Self.legacyBody(nucHex: String(repeating: "11", count: 32), masterHex: String(repeating: "22", count: 32),
                                           tables: [0, 1249, 2499], position: 0)
                func expect(_ change: (inout [String: Any]) -> Void, field: String?) async throws {
                    var body = good
                    change(&body)
                    for uri in ["/validate", "/validate-legacy"] {
                        let (status, answer) = try await Self.post(node, client, uri, body)
                        let err = answer["error"] as? [String: Any]
                        #expect(status == (field == nil ? .ok : .unprocessableContent), "\(uri) \(answer)")
                        #expect(err?["field"] as? String == field, "\(uri) \(answer)")
                    }
                }
                try await expect({ _ in }, field: nil)
                try await expect({ $0["ciphertext"] = String(($0["ciphertext"] as! String).dropLast(2)) }, field: "ciphertext")
                try await expect({ $0["ciphertext"] = String(repeating: "ab", count: 61) }, field: "ciphertext")
                try await expect({ $0["ciphertext"] = String(repeating: "xy", count: 80) }, field: "ciphertext")
                try await expect({ $0["ciphertext"] = 7 }, field: "ciphertext")
                try await expect({ $0.removeValue(forKey: "ciphertext") }, field: "ciphertext")
                try await expect({ $0["table_references"] = [0, 1] }, field: "table_references")
                try await expect({ $0["key_indices"] = [0, 1, 2, 3] }, field: "key_indices")
                try await expect({ $0.removeValue(forKey: "key_indices") }, field: "key_indices")
                try await expect({ $0["table_references"] = [0, 2500, 1] }, field: "table_references[1]")
                try await expect({ $0["table_references"] = [-1, 0, 1] }, field: "table_references[0]")
                try await expect({ $0["key_indices"] = [0, 1, -1] }, field: "key_indices[2]")
                try await expect({ $0["key_indices"] = [1000, 1, 2] }, field: "key_indices[0]")
                try await expect({ $0["key_indices"] = [0, "1", 2] as [Any] }, field: "key_indices[1]")
                // /validate-legacy takes only the legacy body.
                let structured = validationBody(cameraToken(nucHex: String(repeating: "11", count: 32),
                                                            masterHex: String(repeating: "22", count: 32), table: 1, keyIndex: 1))
                try await client.execute(uri: "/validate-legacy", method: .post, headers: node.headers(.validator), body: structured) { r in
                    #expect(r.status == .unprocessableContent)
                    #expect((jsonObject(r.body)["error"] as? [String: Any])?["field"] as? String == "ciphertext")
                }

                // Random legacy bodies (random lengths, encodings, array sizes and integers): a 4xx or a FAIL, never a 5xx.
                for _ in 0..<200 {
                    let raw = (0..<Int.random(in: 0...64)).map { _ in UInt8.random(in: 0...255) }
                    let ciphertext = Bool.random() ? Hex.encode(raw) : Hex.encode(Array(Data(raw).base64EncodedString().utf8))
                    let ints = { (n: Int) in (0..<n).map { _ in Bool.random() ? Int.random(in: -5...3000) : Int.random(in: Int.min...Int.max) } }
                    let body: [String: Any] = ["ciphertext": ciphertext, "table_references": ints(Int.random(in: 0...5)),
                                               "key_indices": ints(Int.random(in: 0...5))]
                    let (status, answer) = try await Self.post(node, client, Bool.random() ? "/validate" : "/validate-legacy", body)
                    #expect(status == .unprocessableContent || (status == .ok && answer["valid"] as? Bool == false), "\(status) \(answer)")
                }
                // Random mutations of a valid legacy body: never a 5xx.
                let valid = Array(String(buffer: jsonBody(good)).utf8)
                var rng = SystemRandomNumberGenerator()
                for n in 0..<300 {
                    let bytes = randomlyMutated(valid, using: &rng)
                    let uri = n % 2 == 0 ? "/validate" : "/validate-legacy"
                    try await client.execute(uri: uri, method: .post, headers: node.headers(.validator), body: ByteBuffer(bytes: bytes)) { r in
                        #expect(r.status.code < 500, "\(String(decoding: bytes, as: UTF8.self)) -> \(r.status)")
                    }
                }
            }
        }
    }

    /// A bundle as camera-pi makes it: `camera_cert` is base64 of DER, or of PEM (canonical); `legacyText` signs
    /// camera-pi's `image_hash + str(timestamp)` instead of the canonical text.
    static func bundle(_ file: ProvisionResponse, der: Bool, legacyText: Bool = false) throws -> [String: Any] {
        let key = try P256.Signing.PrivateKey(pemRepresentation: file.device_private_key!)
        let pem = file.device_certificate
        let certB64: String
        if der {
            let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            certB64 = Data(base64Encoded: body)!.base64EncodedString()
        } else {
            certB64 = Data(pem.utf8).base64EncodedString()
        }
        let imageHash = String(repeating: "cd", count: 32)
        let message = legacyText ? "\(imageHash)1732000000" : "\(imageHash)\n\(certB64)\n1732000000\n\n"
        let sig = try key.signature(for: Array(message.utf8)).derRepresentation.base64EncodedString()
        return ["camera_cert": certB64, "image_hash": imageHash, "timestamp": 1_732_000_000, "bundle_signature": sig]
    }

    @Test func derAndPEMCameraCertificatesBothVerifyAndAnythingElseIs422() async throws {
        try await TestNode.with(tables: 20) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-DER")
                for der in [true, false] {
                    let (status, answer) = try await Self.post(node, client, "/validate-cert", try Self.bundle(file, der: der))
                    #expect(status == .ok && answer["valid"] as? Bool == true, "der=\(der) \(answer)")
                }
                var body = try Self.bundle(file, der: true)
                body["camera_cert"] = Data("not a certificate".utf8).base64EncodedString()
                let (status, answer) = try await Self.post(node, client, "/validate-cert", body)
                #expect(status == .unprocessableContent)
                #expect((answer["error"] as? [String: Any])?["field"] as? String == "camera_cert")
                // Off by default: camera-pi's signature text FAILs as an invalid signature.
                let (_, legacy) = try await Self.post(node, client, "/validate-cert", try Self.bundle(file, der: true, legacyText: true))
                #expect(legacy["valid"] as? Bool == false)
                #expect(legacy["message"] as? String == FailureReason.signatureInvalid.message)
            }
        }
    }

    @Test func cameraPiSignatureTextPassesOnlyWhereTheNodeAcceptsIt() async throws {
        try await TestNode.with(tables: 20, configure: { $0.acceptLegacySignatureText = true }) { node in
            try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: "CAM-SIG")
                for legacyText in [true, false] {
                    let (_, answer) = try await Self.post(node, client, "/validate-cert", try Self.bundle(file, der: true, legacyText: legacyText))
                    #expect(answer["valid"] as? Bool == true, "legacyText=\(legacyText) \(answer)")
                }
                // Still a signature by the certified key over that text: another timestamp FAILs.
                var body = try Self.bundle(file, der: true, legacyText: true)
                body["timestamp"] = 1_732_000_001
                let (_, answer) = try await Self.post(node, client, "/validate-cert", body)
                #expect(answer["valid"] as? Bool == false)
            }
        }
    }
}
