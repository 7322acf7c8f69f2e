import SMATestSupport
import Core
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SMAPostgres
import Testing
import X509
import SwiftASN1
@testable import Node
@testable import NodeServices
@testable import Storage

/// The JSON payload of a `device_provisioned` entry as every version before schema 7 wrote it (sorted keys, the
/// certificate as PEM, a redundant public key; `nucHash` instead of `nucDigest` before NUC digests).
func legacyProvisioningJSON(_ d: LogChange.DeviceProvisioned, publicKeyPEM: String, nucHash: NUCHash? = nil) -> [UInt8] {
    var object: [String: Any] = ["certificatePEM": d.certificatePEM, "family": d.family, "publicKeyPEM": publicKeyPEM,
                                 "serial": d.serial, "tableIDs": Array(d.tableIDs)]
    if let nucHash { object["nucHash"] = nucHash.hex } else { object["nucDigest"] = d.nucDigest.hex }
    return Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
}

/// Log rows as every version before schema 7 stored them (the kind's name as text).
func insertEntriesAsBeforeSchema7(_ c: PostgresConnection, _ entries: [LogEntry]) throws {
    for e in entries {
        try c.query("""
            INSERT INTO registration_log (seq, previous_hash, epoch, created_ms, kind, payload, signature)
            VALUES (\(e.seq), \(e.previousHash), \(e.epoch), \(e.timestampMillis), \(e.kind.rawValue), \(e.payload), \(e.signature))
            """)
    }
}

/// One copy of each certificate (docs/ARCHITECTURE.md §2.2.1, issue 13): the signed `device_provisioned` entry holds it
/// (as DER for new entries), the `devices` row points at that entry, and schema 7 converts existing databases.
@Suite struct CompactStorageTests {
    @Test func aProvisionedDeviceKeepsItsCertificateOnceAsDERInItsLogEntry() async throws {
        try await TestNode.with(tables: 10) { node in
            let answer = try await node.withClient { client in
                try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                         body: jsonBody(["device_serial": "ONE-COPY-1", "device_family": "F"])) { r in
                    #expect(r.status == .created)
                    let o = try JSONSerialization.jsonObject(with: Data(String(buffer: r.body).utf8)) as! [String: Any]
                    return (o["device_certificate"] as? String ?? "", o["device_public_key"] as? String ?? "")
                }
            }
            let certPEM = answer.0, publicKeyPEM = answer.1
            let der = try PEMDocument(pemString: certPEM).derBytes
            let (columns, payload) = try await node.database.withConnection { c in
                (try c.query("""
                    SELECT column_name FROM information_schema.columns
                    WHERE table_schema = current_schema() AND table_name = 'devices' ORDER BY column_name
                    """).map { try $0.decode(0, as: String.self) },
                 try c.query("""
                    SELECT l.payload FROM devices d JOIN registration_log l ON l.seq = d.provisioned_seq WHERE d.serial = 'ONE-COPY-1'
                    """).first!.decode(0, as: [UInt8].self))
            }
            #expect(!columns.contains("certificate_pem") && !columns.contains("public_key_pem") && columns.contains("provisioned_seq"))
            #expect(payload.first == 0x01)
            #expect(payload.count < der.count + 120)
            #expect(payload.count >= der.count && (0...(payload.count - der.count)).contains { Array(payload[$0..<($0 + der.count)]) == der })
            // The device routes still give the certificate and the public key, read from the entry.
            try await node.withClient { client in
                try await client.execute(uri: "/api/v1/devices/ONE-COPY-1", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                    let details = try JSONSerialization.jsonObject(with: Data(String(buffer: r.body).utf8)) as! [String: Any]
                    #expect(details["device_certificate"] as? String == certPEM)
                    #expect(details["device_public_key"] as? String == publicKeyPEM)
                }
            }
        }
    }

    /// A database at schema 6 (certificate and public key PEM in every `devices` row, JSON entries): schema 7 points
    /// each row at its entry, drops both columns, and every device reads back the same certificate and key.
    @Test func schema7MovesExistingDevicesOntoTheCertificateInTheirEntries() async throws {
        let (db, devices) = try await Self.schema6Database(devices: 4, revoked: ["S6-2"])
        defer { Task { await db.drop() } }
        try await db.withConnection { c in
            _ = try Migrator.migrate(c, migrations: Schema.migrations, logger: testLogger)
            for (serial, (certPEM, keyPEM)) in devices {
                let d = try #require(try Store.device(c, serial: serial))
                #expect(d.device_certificate == certPEM)
                #expect(d.device_public_key == keyPEM)
            }
            // The entries read back as they were signed: kinds from their numbers, one chain.
            let entries = try Store.entries(c, after: 0, limit: 100)
            #expect(entries.count == devices.count && entries.allSatisfy { $0.kind == .deviceProvisioned })
            #expect(zip(entries, entries.dropFirst()).allSatisfy { $1.previousHash == $0.hash })
            #expect(try c.query("SELECT kind FROM registration_log").map { try $0.decode(0, as: Int.self) }.allSatisfy { $0 == 3 })
            #expect(try Store.revokedCertificates(c).map(\.serial) == ["S6-2"])
            #expect(try Store.revokedCertificates(c).first?.certificatePEM == devices["S6-2"]?.0)
            let columns = try c.query("""
                SELECT count(*) FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'devices' AND column_name IN ('certificate_pem', 'public_key_pem')
                """).first!.decode(0, as: Int.self)
            #expect(columns == 0)
        }
    }

    /// A device row whose entry is missing would lose its certificate: schema 7 refuses, names why, and changes nothing.
    @Test func schema7RefusesADeviceWithoutItsProvisioningEntryAndChangesNothing() async throws {
        let (db, _) = try await Self.schema6Database(devices: 2, revoked: [])
        defer { Task { await db.drop() } }
        try await db.withConnection { c in
            try c.query("DELETE FROM registration_log WHERE seq = 1")
            do {
                _ = try Migrator.migrate(c, migrations: Schema.migrations, logger: testLogger)
                Issue.record("schema 7 applied without a device's certificate")
            } catch {
                #expect("\(error)".contains("no device_provisioned entry in registration_log"))
            }
            let stillThere = try c.query("""
                SELECT count(*) FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'devices' AND column_name = 'certificate_pem'
                """).first!.decode(0, as: Int.self)
            #expect(stillThere == 1)
            #expect(try c.query("SELECT max(version) FROM schema_migrations").first!.decode(0, as: Int.self) == 6)
        }
    }

    /// Devices as schema 6 stored them: JSON entries (PEM certificate and public key) and the same PEMs in `devices`.
    static func schema6Database(devices n: Int, revoked: Set<String>) async throws -> (TestDatabase, [String: (String, String)]) {
        let db = try await TestDatabase.create()
        let ca = try CertificateAuthority.generate(manufacturer: "SIMULATED_MFG", now: Date())
        let signer = LogSigner.generate()
        let devices = try await db.withConnection { c -> [String: (String, String)] in
            var devices: [String: (String, String)] = [:]
            _ = try Migrator.migrate(c, migrations: Schema.migrations.filter { $0.version <= 6 }, logger: testLogger)
            var previous = LogEntry.genesisHash
            for i in 0..<n {
                let serial = "S6-\(i)"
                let key = P256.Signing.PrivateKey()
                let profile = CertificateAuthority.DeviceProfile(serial: serial, family: "F", manufacturer: "SIMULATED_MFG", maEndpoint: "http://x/validate")
                let der = try ca.authority.issueDeviceCertificate(profile, publicKey: key.publicKey, now: Date()).serializeAsPEM().derBytes
                let change = LogChange.DeviceProvisioned(serial: serial, family: "F", nucDigest: NUCDigest(Bytes32((0..<32).map { _ in UInt8.random(in: 0...255) })!),
                                                         tableIDs: KeyTableTriple([i, i + 1, i + 2])!, certificateDER: der)
                let e = signer.sign(LogEntry(seq: Int64(i + 1), previousHash: previous, epoch: 1, timestampMillis: 1_700_000_000_000,
                                             kind: .deviceProvisioned, payload: legacyProvisioningJSON(change, publicKeyPEM: key.publicKey.pemRepresentation)))
                previous = e.hash
                try insertEntriesAsBeforeSchema7(c, [e])
                try c.query("""
                    INSERT INTO devices (serial, nuc_digest, family, t0, t1, t2, certificate_pem, public_key_pem, provisioned_at, seq, revoked)
                    VALUES (\(serial), \(change.nucDigest.bytes), 'F', \(i), \(i + 1), \(i + 2), \(change.certificatePEM),
                            \(key.publicKey.pemRepresentation), now(), \(e.seq), \(revoked.contains(serial)))
                    """)
                devices[serial] = (change.certificatePEM, key.publicKey.pemRepresentation)
            }
            try c.query("UPDATE log_head SET seq = \(Int64(n)), hash = \(previous) WHERE id = 1")
            return devices
        }
        return (db, devices)
    }
}
