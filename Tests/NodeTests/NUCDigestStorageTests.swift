import SMATestSupport
import Core
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SMAPostgres
import Testing
import X509
import SwiftASN1
@testable import Node
@testable import NodeServices
@testable import Storage

/// NUC hashes are never at rest and never logged (docs/ARCHITECTURE.md §3.2): the finding "concurrent duplicate
/// provisionings put `DETAIL: Key (nuc_hash)=(\x…)` into PostgreSQL's log; the devices table and every log entry hold
/// raw NUC hashes", re-tried against a real node and a real PostgreSQL.
@Suite struct NUCDigestStorageTests {
    @Test func concurrentDuplicateProvisioningsLeaveTheNUCHashNowhereButTheProvisioningAnswer() async throws {
        try await TestNode.with(tables: 10) { node in
            let nucHex = Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
            let logMark = Self.postgresLogSize(node)
            let statuses = try await node.withClient { client in
                try await withThrowingTaskGroup(of: (HTTPResponse.Status, String).self) { group in
                    for i in 0..<8 {
                        group.addTask {
                            try await client.execute(uri: "/api/v1/devices/provision", method: .post, headers: node.headers(.provisioner),
                                                     body: jsonBody(["device_serial": "DUP-\(i)", "device_family": "F", "nuc_hash": nucHex])) { r in
                                (r.status, String(buffer: r.body))
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            #expect(statuses.filter { $0.0 == .created }.count == 1)
            #expect(statuses.filter { $0.0 == .conflict }.count == 7)
            // The camera's own answer is the one place the hash appears; a refusal never echoes it.
            #expect(statuses.filter { $0.0 == .created }.allSatisfy { $0.1.contains(nucHex) })
            for (status, body) in statuses where status == .conflict {
                #expect(!body.contains(nucHex))
                #expect(body.contains("NUC hash is already provisioned"))
            }

            // The database's own duplicate check (two leaders' writes racing past memory): a clean 409, no unique violation.
            let service = try #require(node.runtime.devices)
            let digest = try #require(node.runtime.state.registry.nucDigest(NUCHash(hex: nucHex)!))
            let key = P256.Signing.PrivateKey()
            let profile = CertificateAuthority.DeviceProfile(serial: "DUP-SQL", family: "F", manufacturer: "SIMULATED_MFG", maEndpoint: "http://x/validate")
            let der = try service.authority.issueDeviceCertificate(profile, publicKey: key.publicKey, now: Date()).serializeAsPEM().derBytes
            let change = LogChange.DeviceProvisioned(serial: "DUP-SQL", family: "F", nucDigest: digest, tableIDs: KeyTableTriple([0, 1, 2])!,
                                                     certificateDER: der)
            do {
                _ = try await service.writer.write([.deviceProvisioned(change)], audit: nil)
                Issue.record("a duplicate NUC digest was committed")
            } catch let e as NodeError {
                #expect(e.code == .conflict && e.field == "nuc_hash")
            }

            try await Self.expectNowhere(nucHex, in: node.database)
            // What any peer certificate can pull (`GET /peer/v1/log`) holds digests only.
            let pulled = try await node.runtime.store.entries(after: 0, limit: 5_000)
            #expect(pulled.contains { $0.kind == .deviceProvisioned })
            #expect(!pulled.contains { String(decoding: $0.payload, as: UTF8.self).contains(nucHex) })
            let raw = Hex.decode(nucHex)!
            #expect(!pulled.contains { p in p.payload.count >= 32 && (0...(p.payload.count - 32)).contains { Array(p.payload[$0..<($0 + 32)]) == raw } })
            // Device details (no secrets) and the validation still work.
            try await node.withClient { client in
                try await client.execute(uri: "/api/v1/devices/DUP-0", method: .get, headers: node.headers(.admin)) { r in
                    #expect(!String(buffer: r.body).contains(nucHex))
                }
            }
            if let log = Self.postgresLog(node, from: logMark) {
                #expect(!log.contains(nucHex))
                #expect(!log.contains("Key (nuc"))
                #expect(!log.contains(digest.hex))
            }
        }
    }

    /// A database written before NUC digests: the write region's is rewritten in place (devices, payloads, signatures,
    /// chain) with nothing lost; a replica's is emptied and refills from the rewritten log; old entries are refused.
    @Test func migrationReplacesEveryNUCHashAndReplicasRefillFromTheRewrittenLog() async throws {
        let kek = KeyEncryptionKey.generate().kek
        let signer = LogSigner.generate()
        let masters = (0..<5).map { _ in Bytes32((0..<32).map { _ in UInt8.random(in: 0...255) })! }
        let nucs = (0..<3).map { _ in NUCHash(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })! }
        let ca = try CertificateAuthority.generate(manufacturer: "SIMULATED_MFG", now: Date())
        let old = try Self.oldLog(kek: kek, signer: signer, masters: masters, nucs: nucs, ca: ca)

        let writeDB = try await TestDatabase.create()
        let replicaDB = try await TestDatabase.create()
        defer { Task { await writeDB.drop(); await replicaDB.drop() } }
        try await writeDB.withConnection { c in try Self.makeOldDatabase(c, kek: kek, signer: signer, log: old, signingKey: true) }
        try await replicaDB.withConnection { c in try Self.makeOldDatabase(c, kek: kek, signer: signer, log: old, signingKey: false) }
        // Before: the finding (the probe below sees the hashes in the devices table and in the log).
        for nuc in nucs {
            #expect(try await Self.locations(of: nuc.hex, in: writeDB) == ["devices", "registration_log.payload"])
        }

        // The write region: rewritten.
        let outcome = try await writeDB.withConnection { c in
            _ = try Migrator.migrate(c, migrations: Schema.migrations, logger: testLogger)
            return try NUCDigestMigration.run(c, kek: kek, logger: testLogger)
        }
        #expect(outcome == .rewritten(entries: old.count, devices: nucs.count))
        for nuc in nucs { try await Self.expectNowhere(nuc.hex, in: writeDB) }
        let again = try await writeDB.withConnection { c in try NUCDigestMigration.run(c, kek: kek, logger: testLogger) }
        #expect(again == .nothingToDo)

        let (entries, sealedKey, head) = try await writeDB.withConnection { c in
            (try Store.entries(c, after: 0, limit: 100), try Store.meta(c, Store.MetaKey.nucDigestKey), try c.query("SELECT hash FROM log_head").first!.decode(0, as: [UInt8].self))
        }
        let digester = NUCDigester(key: Bytes32(try kek.open(try #require(sealedKey), label: NUCDigester.keyLabel))!)
        // Same seqs, kinds, epochs and times; one chain from the genesis hash to the head; every entry verifies and decodes.
        #expect(entries.map(\.seq) == old.map(\.seq))
        #expect(entries.map(\.kind) == old.map(\.kind))
        #expect(entries.map(\.timestampMillis) == old.map(\.timestampMillis))
        #expect(entries.first?.previousHash == LogEntry.genesisHash)
        #expect(zip(entries, entries.dropFirst()).allSatisfy { $1.previousHash == $0.hash })
        #expect(entries.last?.hash == head)
        var digests: [NUCDigest] = []
        for e in entries {
            switch try signer.verifier.verify(e) {
            case .deviceProvisioned(let d): digests.append(d.nucDigest)
            case .keyTablesCreated(let k): #expect(k.sealedNUCDigestKey != nil)
            default: break
            }
        }
        #expect(digests == nucs.map { digester.digest($0) })

        // Memory built from the migrated database validates the old devices' tokens; the revocation survived.
        let snapshot = try await writeDB.withConnection { c in try Store.snapshot(c) }
        let registry = Registry()
        registry.installKeyTables(KeyTables(masterKeys: masters))
        registry.installNUCDigestKey(Bytes32(try kek.open(try #require(snapshot.sealedNUCDigestKey), label: NUCDigester.keyLabel))!)
        registry.replaceIndex(snapshot.index)
        for (i, nuc) in nucs.enumerated() {
            let token = try cameraToken(nucHex: nuc.hex, masterHex: masters[i].hex, table: i, keyIndex: 3).cameraToken(tableCount: masters.count)
            #expect(registry.validate(token) == (i == 1 ? .fail(.revoked) : .pass))
        }

        // A replica's database: emptied (it cannot sign), then it refills from the rewritten log only.
        let reset = try await replicaDB.withConnection { c in
            _ = try Migrator.migrate(c, migrations: Schema.migrations, logger: testLogger)
            return try NUCDigestMigration.run(c, kek: kek, logger: testLogger)
        }
        #expect(reset == .replicaReset(entries: old.count))
        for nuc in nucs { try await Self.expectNowhere(nuc.hex, in: replicaDB) }
        // The old generation's first entry (key tables without a digest key) is refused: nothing old is applied.
        let oldFirst = (entry: old[0], change: try old[0].change())
        await #expect(throws: (any Error).self) {
            try await replicaDB.withConnection { c in _ = try Store.applyReplicated(c, [oldFirst]) }
        }
        let applied = try await replicaDB.withConnection { c in
            try Store.applyReplicated(c, entries.map { (entry: $0, change: try signer.verifier.verify($0)) })
        }
        #expect(applied.applied.count == entries.count)
        let replicaDevices = try await replicaDB.withConnection { c in
            try c.query("SELECT nuc_digest FROM devices ORDER BY serial").map { NUCDigest(bytes: try $0.decode(0, as: [UInt8].self))! }
        }
        #expect(replicaDevices == nucs.map { digester.digest($0) })
    }

    // MARK: helpers

    /// No table of `database` holds `hex` (as a bytea, as text, or inside a log payload).
    static func expectNowhere(_ hex: String, in database: TestDatabase) async throws {
        let hits = try await locations(of: hex, in: database)
        #expect(hits.isEmpty, "the raw NUC hash is stored in \(hits)")
    }

    /// The tables of `database` that hold `hex` (as a bytea, as text, or inside a log payload).
    static func locations(of hex: String, in database: TestDatabase) async throws -> [String] {
        try await database.withConnection { c -> [String] in
            let tables = try c.query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
                .map { try $0.decode(0, as: String.self) }
            var hits: [String] = []
            for table in tables {
                // `table` comes from the catalogue and `hex` is hex digits only.
                let n = try c.query(SQLQuery(unsafeSQL: "SELECT count(*) FROM \"\(table)\" t WHERE strpos(lower(t::text), '\(hex.lowercased())') > 0"))
                    .first!.decode(0, as: Int.self)
                if n > 0 { hits.append(table) }
            }
            let inPayloads = try c.query("SELECT count(*) FROM registration_log WHERE position(convert_to(\(hex), 'UTF8') IN payload) > 0 OR position(decode(\(hex), 'hex') IN payload) > 0")
                .first!.decode(0, as: Int.self)
            if inPayloads > 0 { hits.append("registration_log.payload") }
            return hits
        }
    }

    /// The test PostgreSQL's server log (cluster/lib.sh writes it next to the data directory), if this process can read it.
    static func postgresLogPath(_ node: TestNode) -> String? {
        let dir = try? (try? node.database.connect())?.query("SHOW data_directory").first?.decode(0, as: String.self)
        guard let dir else { return nil }
        let path = URL(fileURLWithPath: dir).deletingLastPathComponent().appendingPathComponent("postgresql.log").path
        return FileManager.default.isReadableFile(atPath: path) ? path : nil
    }

    static func postgresLogSize(_ node: TestNode) -> UInt64 {
        guard let path = postgresLogPath(node) else { return 0 }
        return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
    }

    static func postgresLog(_ node: TestNode, from offset: UInt64) -> String? {
        guard let path = postgresLogPath(node), let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        try? h.seek(toOffset: offset)
        return String(decoding: (try? h.readToEnd()) ?? Data(), as: UTF8.self)
    }

    /// A log as the previous version wrote it: key tables without a digest key, provisionings with `nucHash`.
    static func oldLog(kek: KeyEncryptionKey, signer: LogSigner, masters: [Bytes32], nucs: [NUCHash],
                       ca: CertificateAuthority.Generated) throws -> [LogEntry] {
        var payloads: [(LogEntryKind, [UInt8])] = []
        let tables = masters.enumerated().map { LogChange.KeyTablesCreated.Table(id: $0.offset, sealedMasterKey: kek.seal($0.element.bytes, label: "key_table:\($0.offset)")) }
        payloads.append((.keyTablesCreated, LogChange.keyTablesCreated(.init(tables: tables)).encodedPayload()))
        for (i, nuc) in nucs.enumerated() {
            let key = P256.Signing.PrivateKey()
            let profile = CertificateAuthority.DeviceProfile(serial: "OLD-\(i)", family: "F", manufacturer: "SIMULATED_MFG", maEndpoint: "http://x/validate")
            let der = try ca.authority.issueDeviceCertificate(profile, publicKey: key.publicKey, now: Date()).serializeAsPEM().derBytes
            let change = LogChange.DeviceProvisioned(serial: "OLD-\(i)", family: "F", nucDigest: NUCDigest(Bytes32()),
                                                     tableIDs: KeyTableTriple([i, (i + 1) % masters.count, (i + 2) % masters.count])!,
                                                     certificateDER: der)
            let json = legacyProvisioningJSON(change, publicKeyPEM: key.publicKey.pemRepresentation, nucHash: nuc)
            #expect(String(decoding: json, as: UTF8.self).contains(nuc.hex))
            payloads.append((.deviceProvisioned, json))
        }
        payloads.append((.deviceRevoked, LogChange.deviceRevoked(.init(serial: "OLD-1", reason: "key_compromise")).encodedPayload()))
        var previous = LogEntry.genesisHash
        return payloads.enumerated().map { i, p in
            let e = signer.sign(LogEntry(seq: Int64(i + 1), previousHash: previous, epoch: 1, timestampMillis: 1_700_000_000_000 + Int64(i), kind: p.0, payload: p.1))
            previous = e.hash
            return e
        }
    }

    /// The tables of schema version 4 holding `log` (what the previous version's appliers wrote).
    static func makeOldDatabase(_ c: PostgresConnection, kek: KeyEncryptionKey, signer: LogSigner, log: [LogEntry], signingKey: Bool) throws {
        _ = try Migrator.migrate(c, migrations: Schema.migrations.filter { $0.version <= 4 }, logger: testLogger)
        try Store.setMeta(c, Store.MetaKey.kekCheck, kek.seal(Array("sma-kek-check".utf8), label: Store.MetaKey.kekCheck))
        try Store.setMeta(c, Store.MetaKey.logPublicKey, Array(signer.verifier.publicKey.rawRepresentation))
        if signingKey { try Store.putSealedSecret(c, Store.SecretName.logSigningKey, kek.seal(signer.rawPrivateKey, label: Store.SecretName.logSigningKey)) }
        try insertEntriesAsBeforeSchema7(c, log)
        try c.query("UPDATE log_head SET seq = \(log.last!.seq), hash = \(log.last!.hash) WHERE id = 1")
        for e in log {
            let object = try JSONSerialization.jsonObject(with: Data(e.payload)) as! [String: Any]
            switch e.kind {
            case .keyTablesCreated:
                for t in object["tables"] as! [[String: Any]] {
                    try c.query("INSERT INTO key_tables (table_id, sealed_master_key, seq) VALUES (\(t["id"] as! Int), \(Hex.decode(t["sealedMasterKey"] as! String)!), \(e.seq))")
                }
            case .deviceProvisioned:
                let tables = object["tableIDs"] as! [Int]
                try c.query("""
                    INSERT INTO devices (serial, nuc_hash, family, t0, t1, t2, certificate_pem, public_key_pem, provisioned_at, seq)
                    VALUES (\(object["serial"] as! String), \(Hex.decode(object["nucHash"] as! String)!), 'F', \(tables[0]), \(tables[1]), \(tables[2]),
                            \(object["certificatePEM"] as! String), \(object["publicKeyPEM"] as! String), now(), \(e.seq))
                    """)
            case .deviceRevoked:
                try c.query("UPDATE devices SET revoked = true, revocation_reason = 'key_compromise', revoked_at = now() WHERE serial = \(object["serial"] as! String)")
            default: break
            }
        }
    }
}

