import Core
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import SMAPostgres
import SMATestSupport
import Testing
import X509
import SwiftASN1
@testable import API
@testable import Node
@testable import NodeServices
@testable import Storage

/// One canonical serial everywhere (docs/ARCHITECTURE.md §1.4): the same bytes in memory, SQL, log and certificate.
@Suite(.serialized) struct SerialSpellingTests {
    static let nfc = "CAF\u{C9}"
    static let nfd = "CAFE\u{301}"

    /// `raw` as a path segment: every byte but the unreserved ones percent-encoded.
    static func path(_ raw: String) -> String {
        var out = ""
        for b in raw.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// Every device row as stored: serial bytes -> revoked.
    static func databaseDevices(_ node: TestNode) async throws -> [[UInt8]: Bool] {
        try await node.database.withConnection { c in
            var out: [[UInt8]: Bool] = [:]
            for row in try c.query("SELECT serial, revoked FROM devices") {
                out[Array(try row.decode(0, as: String.self).utf8)] = try row.decode(1, as: Bool.self)
            }
            return out
        }
    }

    /// Memory and database agree on every device: the same serials (as bytes), the same revoked flags.
    static func expectAgreement(_ node: TestNode, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [[UInt8]: Bool] {
        let db = try await databaseDevices(node)
        let registry = node.runtime.state.registry
        #expect(registry.counts.devices == db.count, "device count", sourceLocation: sourceLocation)
        #expect(registry.counts.revoked == db.values.filter { $0 }.count, "revoked count", sourceLocation: sourceLocation)
        for (bytes, revoked) in db {
            let serial = DeviceSerial(unchecked: String(decoding: bytes, as: UTF8.self))
            #expect(registry.device(serial: serial)?.revoked == revoked, "\(bytes)", sourceLocation: sourceLocation)
        }
        let disagreements = try await node.runtime.state.registryDisagreements(with: node.runtime.store)
        #expect(disagreements == 0, sourceLocation: sourceLocation)
        return db
    }

    /// Writes a provisioning straight into the log, bypassing the edge's checks: a device logged before the serial rules.
    static func provisionLegacy(_ node: TestNode, serial: String, nucByte: UInt8) async throws {
        let service = try #require(node.runtime.devices)
        let key = P256.Signing.PrivateKey()
        let profile = CertificateAuthority.DeviceProfile(serial: serial, family: "legacy", manufacturer: "SIMULATED_MFG", maEndpoint: "http://x/validate")
        let der = try service.authority.issueDeviceCertificate(profile, publicKey: key.publicKey, now: Date()).serializeAsPEM().derBytes
        let change = LogChange.DeviceProvisioned(serial: serial, family: "legacy", nucDigest: NUCDigest(bytes: [UInt8](repeating: nucByte, count: 32))!,
                                                 tableIDs: KeyTableTriple([0, 1, 2])!, certificateDER: der)
        _ = try await service.writer.write([.deviceProvisioned(change)], audit: nil)
    }

    @Test func revocationWithAnotherSpellingOfTheSerialIsRefusedOrStored() async throws {
        let node = try await TestNode.make(tables: 10)
        let restarted: TestNode
        do {
            let file = try await node.withClient { client in
                let (file, _) = try await NodeAPITests.provision(node, client, serial: Self.nfc)
                // The decomposed spelling is not this device: refused at the edge, nothing acknowledged.
                try await client.execute(uri: "/api/v1/devices/\(Self.path(Self.nfd))/revoke", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .unprocessableContent)
                    #expect(String(buffer: r.body).contains("serial: must be in Unicode normalization form NFC"))
                }
                let before = try await NodeAPITests.validate(node, client, NodeAPITests.token(from: file)).1
                #expect(before?.valid == true)
                try await client.execute(uri: "/api/v1/devices/\(Self.path(Self.nfc))/revoke", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                    #expect(jsonObject(r.body)["changed"] as? Bool == true)
                }
                let after = try await NodeAPITests.validate(node, client, NodeAPITests.token(from: file)).1
                #expect(after?.valid == false)
                return file
            }
            let db = try await Self.expectAgreement(node)
            #expect(db == [Array(Self.nfc.utf8): true])
            restarted = try await node.restarted()
            do {
                try await restarted.withClient { client in
                    let answer = try await NodeAPITests.validate(restarted, client, NodeAPITests.token(from: file)).1
                    #expect(answer?.valid == false)
                }
            } catch {
                await restarted.stop()
                throw error
            }
        } catch {
            await node.stop()
            throw error
        }
        await restarted.stop()
    }

    @Test func provisioningRefusesSerialsOutsideTheAlphabetNamingTheField() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                let refused = ["e" + String(repeating: "\u{301}", count: 700), "CAM\u{200B}1", "\u{202E}CAM1", "\u{FEFF}CAM1", " ",
                               Self.nfd, String(repeating: "A", count: 65), ""]
                for serial in refused {
                    try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                             body: jsonBody(["device_serial": serial, "device_family": "F"])) { r in
                        #expect(r.status == .unprocessableContent, "\(serial.unicodeScalars.map(\.value))")
                        let error = jsonObject(r.body)["error"] as? [String: Any]
                        #expect(error?["field"] as? String == "device_serial")
                    }
                }
                try await client.execute(uri: "/api/v1/devices/provision/bulk", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["devices": [["device_serial": "OK-1", "device_family": "F"],
                                                                     ["device_serial": "OK-2", "device_family": "F\u{200B}"]]])) { r in
                    #expect(r.status == .unprocessableContent)
                    #expect((jsonObject(r.body)["error"] as? [String: Any])?["field"] as? String == "devices[1].device_family")
                }
                // 64 bytes is the limit; the certificate's CN holds exactly those bytes, and every route reaches the device.
                let longest = String(repeating: "\u{E9}", count: 31) + "AB"
                #expect(longest.utf8.count == 64)
                let (file, _) = try await NodeAPITests.provision(node, client, serial: longest)
                let cert = try Certificate(pemEncoded: file.device_certificate)
                let cn = cert.subject.flatMap { $0 }.first { $0.type == .RDNAttributeType.commonName }
                #expect(cn.map { String(describing: $0.value) } == longest)
                for (method, suffix) in [(HTTPRequest.Method.get, ""), (.post, "/revoke"), (.post, "/reinstate")] {
                    try await client.execute(uri: "/api/v1/devices/\(Self.path(longest))\(suffix)", method: method, headers: node.headers(.admin)) { r in
                        #expect(r.status == .ok, "\(suffix)")
                    }
                }
            }
            _ = try await Self.expectAgreement(node)
        }
    }

    @Test func deviceLoggedWithASerialOutsideTodaysAlphabetCanStillBeRevoked() async throws {
        let node = try await TestNode.make(tables: 10)
        let restarted: TestNode
        do {
            try await Self.provisionLegacy(node, serial: Self.nfd, nucByte: 1)
            try await Self.provisionLegacy(node, serial: "OLD\u{200B}1", nucByte: 2)
            try await node.withClient { client in
                _ = try await NodeAPITests.provision(node, client, serial: Self.nfc)   // another device: other bytes
                for serial in [Self.nfd, "OLD\u{200B}1"] {
                    try await client.execute(uri: "/api/v1/devices/\(Self.path(serial))/revoke", method: .post, headers: node.headers(.admin)) { r in
                        #expect(r.status == .ok)
                        #expect(jsonObject(r.body)["changed"] as? Bool == true)
                    }
                }
            }
            let db = try await Self.expectAgreement(node)
            #expect(db == [Array(Self.nfd.utf8): true, Array("OLD\u{200B}1".utf8): true, Array(Self.nfc.utf8): false])
            // A restart loads both spellings of CAFÉ as two devices, as the database holds them.
            restarted = try await node.restarted()
        } catch {
            await node.stop()
            throw error
        }
        #expect(restarted.runtime.state.registry.counts.devices == 3)
        #expect(restarted.runtime.state.registry.device(serial: DeviceSerial(unchecked: Self.nfd))?.revoked == true)
        #expect(restarted.runtime.state.registry.device(serial: DeviceSerial(unchecked: Self.nfc))?.revoked == false)
        await restarted.stop()
    }

    @Test func randomWritesWithOddSpellingsLeaveMemoryAndDatabaseInAgreement() async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        let spellings = [
            Self.nfc, Self.nfd, "CAFE", "\u{C5}", "A\u{30A}", "\u{212B}", "\u{3A9}", "\u{2126}",
            "e" + String(repeating: "\u{301}", count: 700), "\u{301}X", "CAM\u{200B}1", "CAM1", "\u{202E}CAM1", "\u{FEFF}CAM1",
            " ", " CAM1", "CAM 1", String(repeating: "\u{E9}", count: 32), String(repeating: "\u{E9}", count: 33),
            String(repeating: "Z", count: 64), String(repeating: "Z", count: 65), "\u{1F4F7}", "\u{1F4F7}\u{FE0F}", "CAM\u{0}1",
        ]
        try await TestNode.with(tables: 10) { node in
            // Two devices from before the serial rules, already in the log.
            try await Self.provisionLegacy(node, serial: Self.nfd, nucByte: 1)
            try await Self.provisionLegacy(node, serial: "CAM\u{200B}1", nucByte: 2)
            let model = try await node.withClient { client in
                var rng = SplitMix64(seed: seed)
                var model: [[UInt8]: Bool] = [Array(Self.nfd.utf8): false, Array("CAM\u{200B}1".utf8): false]
                for step in 0..<60 {
                    let serial = spellings[Int(rng.next() % UInt64(spellings.count))]
                    let key = Array(serial.utf8)
                    let valid = (try? DeviceSerial(serial)) != nil
                    let known = model[key] != nil
                    let note = "seed \(seed) step \(step) serial \(serial.unicodeScalars.map { String($0.value, radix: 16) })"
                    switch rng.next() % 3 {
                    case 0:
                        let status = try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                                              body: jsonBody(["device_serial": serial, "device_family": "F"])) { $0.status }
                        let expected: HTTPResponse.Status = !valid ? .unprocessableContent : known ? .conflict : .created
                        #expect(status == expected, "\(note)")
                        if status == .created { model[key] = false }
                    case let op:
                        let revoke = op == 1
                        let (status, changed) = try await client.execute(
                            uri: "/api/v1/devices/\(Self.path(serial))/\(revoke ? "revoke" : "reinstate")", method: .post,
                            headers: node.headers(.admin)) { r in (r.status, jsonObject(r.body)["changed"] as? Bool) }
                        let expected: HTTPResponse.Status = known ? .ok : valid ? .notFound : .unprocessableContent
                        #expect(status == expected, "\(note)")
                        if status == .ok {
                            #expect(changed == (model[key] != revoke), "\(note)")
                            model[key] = revoke
                        }
                    }
                }
                return model
            }
            let db = try await Self.expectAgreement(node)
            #expect(db == model, "seed \(seed)")
        }
    }

    @Test func byteOrderMarkInThePathIsNotDroppedByPercentDecoding() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                _ = try await NodeAPITests.provision(node, client, serial: "CAM1")
                try await client.execute(uri: "/api/v1/devices/%EF%BB%BFCAM1/revoke", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .unprocessableContent)
                }
                for uri in ["/api/v1/devices/CAM%FF1", "/api/v1/devices/CAM%4"] {
                    try await client.execute(uri: uri, method: .get, headers: node.headers(.admin)) { r in
                        #expect(r.status == .unprocessableContent, "\(uri)")
                    }
                }
            }
            #expect(try await Self.expectAgreement(node) == [Array("CAM1".utf8): false])
        }
    }

    @Test func statsAndMetricReportDisagreementBetweenMemoryAndDatabase() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                _ = try await NodeAPITests.provision(node, client, serial: "CAM-D")
                try await client.execute(uri: "/stats", method: .get, headers: node.headers(.admin)) { r in
                    #expect(jsonObject(r.body)["registry_disagreements"] as? Int == 0)
                }
                // Memory says revoked, the database does not: the flaw this check exists to show.
                node.runtime.state.registry.setRevoked(serial: DeviceSerial(unchecked: "CAM-D"), true)
                try await client.execute(uri: "/stats", method: .get, headers: node.headers(.admin)) { r in
                    #expect(jsonObject(r.body)["registry_disagreements"] as? Int == 1)
                }
                try await client.execute(uri: "/metrics", method: .get) { r in
                    #expect(String(buffer: r.body).contains("sma_registry_disagreements 1"))
                }
            }
        }
    }
}

/// A small seeded generator, so a failing random sequence can be replayed from its seed.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
