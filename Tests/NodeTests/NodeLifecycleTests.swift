import SMATestSupport
import Core
import Foundation
import HummingbirdTesting
import Logging
import HTTPTypes
import SMAPostgres
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

@Suite(.serialized) struct NodeLifecycleTests {
    @Test func devicesSurviveARestart() async throws {
        let node = try await TestNode.make(tables: 20)
        let file = try await node.withClient { client in try await NodeAPITests.provision(node, client, serial: "CAM-P").0 }
        let restarted = try await node.restarted()
        do {
            #expect(restarted.runtime.state.registry.counts.devices == 1)
            let token = NodeAPITests.token(from: file)
            try await restarted.withClient { client in
                let afterRestart = try await NodeAPITests.validate(restarted, client, token).1
                #expect(afterRestart?.valid == true)
            }
        } catch {
            await restarted.stop()
            throw error
        }
        await restarted.stop()
    }

    @Test func wrongKEKStopsStartUpWithAMessageThatSaysSo() async throws {
        try await TestNode.with(tables: 10) { node in
            var config = node.config
            let other = FileManager.default.temporaryDirectory.appendingPathComponent("other-kek-\(node.database.name)").path
            try KeyEncryptionKey.generate().fileContents.write(toFile: other, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: other) }
            config.kekFile = other
            await #expect(throws: NodeError(.wrongKEK, "")) { _ = try await NodeRuntime.start(config: config, logger: testLogger) }
            do { _ = try await NodeRuntime.start(config: config, logger: testLogger) } catch {
                #expect("\(error)".contains("not the one this database was initialized with"))
            }
            config.kekFile = "/nonexistent/kek"
            do { _ = try await NodeRuntime.start(config: config, logger: testLogger) } catch {
                #expect("\(error)".contains("cannot read the key-encryption key file"))
            }
        }
    }

    @Test func initRefusesToOverwriteKeysUnlessForced() async throws {
        try await TestNode.with(tables: 10) { node in
            let kek = try NodeRuntime.readKEK(path: node.kekPath)
            await #expect(throws: NodeError(.alreadyInitialized, "")) {
                _ = try await node.database.withConnection { c in
                    try NodeBootstrap.initialize(c, kek: kek, tables: 10, manufacturer: "M", force: false, logger: testLogger) { _ in }
                }
            }
            let summary = try await node.database.withConnection { c in
                try NodeBootstrap.initialize(c, kek: kek, tables: 12, manufacturer: "M", force: true, logger: testLogger) { _ in }
            }
            #expect(summary.tables == 12 && summary.headSeq == 3)
        }
    }

    @Test func apiKeyCreatedOutsideTheNodeIsPickedUpFromTheLog() async throws {
        try await TestNode.with(tables: 10) { node in
            let kek = try NodeRuntime.readKEK(path: node.kekPath)
            let created = try await node.database.withConnection { c in try NodeBootstrap.createAPIKey(c, kek: kek, role: .admin, name: "late") }
            #expect(node.runtime.state.apiKeys.authenticate(created.key) == nil)
            await LogTailer(store: node.runtime.store, state: node.runtime.state, verifier: node.runtime.verifier, period: .seconds(1), logger: testLogger).poll()
            #expect(node.runtime.state.apiKeys.authenticate(created.key)?.name == "late")
            #expect(node.runtime.state.applied == created.seq)
        }
    }

    @Test func forgedEntryInTheDatabaseIsRefusedNotApplied() async throws {
        try await TestNode.with(tables: 10) { node in
            let forger = LogSigner.generate()
            let head = try await node.database.withConnection { c in try Store.logHead(c) }
            let forged = forger.sign(.apiKeyCreated(.init(id: 99, name: "evil", role: .admin, keyHash: APIKey.hash("sma_evil"))),
                                     seq: head + 1, epoch: 0, timestampMillis: 0)
            try await node.database.withConnection { c in
                try c.transaction { c in
                    try Store.insertEntries(c, [forged])
                    try c.query("UPDATE log_head SET seq = \(head + 1)")
                }
            }
            await LogTailer(store: node.runtime.store, state: node.runtime.state, verifier: node.runtime.verifier, period: .seconds(1), logger: testLogger).poll()
            #expect(node.runtime.state.apiKeys.authenticate("sma_evil") == nil)
            #expect(node.runtime.state.applied == head)
        }
    }

    @Test func noSecretReachesTheLogs() async throws {
        let capture = LogCapture()
        try await TestNode.with(tables: 20, logger: capture.logger()) { node in
            let file = try await node.withClient { client in
                let file = try await NodeAPITests.provision(node, client, serial: "CAM-S").0
                _ = try await NodeAPITests.validate(node, client, NodeAPITests.token(from: file))
                _ = try await client.execute(uri: "/api/v1/devices/CAM-S/revoke", method: .post, headers: node.headers(.admin))
                return file
            }
            let secrets = [file.nuc_hash] + Array(file.master_keys.values) + Array(node.keys.values)
            let logged = capture.recorded.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n")
            #expect(!logged.isEmpty)
            for s in secrets { #expect(!logged.contains(s)) }
        }
    }
}

@Suite(.serialized) struct LogChainStoreTests {
    @Test func validlySignedEntryFromAnotherHistoryIsRefusedAsAConflict() async throws {
        try await TestNode.with(tables: 10) { node in
            let kek = try NodeRuntime.readKEK(path: node.kekPath)
            let (signer, head) = try await node.database.withConnection { c in (try Store.writerKeys(c, kek: kek).0, try Store.logHead(c)) }
            // Signed with the real cluster key but chained to a different history (a forked leader).
            let fork = signer.sign(.deviceReinstated(.init(serial: "X")), seq: head + 1, previousHash: [UInt8](repeating: 7, count: 32),
                                   epoch: 9, timestampMillis: 0)
            let change = try signer.verifier.verify(fork)
            let (result, headAfter) = try await node.database.withConnection { c in
                (try Store.applyReplicated(c, [(fork, change)]), try Store.logHead(c))
            }
            #expect(result.conflicts == [head + 1])
            #expect(result.applied.isEmpty)
            #expect(headAfter == head)
        }
    }
}

@Suite(.serialized) struct ReplicatedBatchTests {
    /// A batch whose chain links up and whose last signature verifies, but with a garbage signature on an earlier
    /// entry, is refused from that entry on: every entry is authenticated before anything is stored.
    @Test func everyEntryOfAReceivedBatchIsAuthenticatedBeforeItIsStored() async throws {
        try await TestNode.with(tables: 10) { node in
            let kek = try NodeRuntime.readKEK(path: node.kekPath)
            let (signer, head, headHash) = try await node.database.withConnection { c in
                (try Store.writerKeys(c, kek: kek).0, try Store.logHead(c), try c.query("SELECT hash FROM log_head").first!.decode(0, as: [UInt8].self))
            }
            var chain = signer.signChain((0..<3).map { .deviceRevoked(.init(serial: "NOBODY-\($0)", reason: "r")) },
                                         firstSeq: head + 1, previousHash: headHash, epoch: 1, timestampMillis: 0)
            chain[1].signature = [UInt8](repeating: 7, count: 64)
            let replicator = Replicator(store: node.runtime.store, cpu: node.runtime.cpuPool, state: node.runtime.state,
                                        verifier: node.runtime.verifier, pushes: PushQueue(), logger: testLogger)
            let outcome = try await replicator.receive(chain.map(WireLogEntry.init), from: "intruder")
            #expect(outcome.applied == 1)
            #expect(outcome.refused == 1)
            let stored = try await node.database.withConnection { c in
                try c.query("SELECT seq FROM registration_log WHERE seq > \(head) ORDER BY seq").map { try $0.decode(0, as: Int64.self) }
            }
            #expect(stored == [head + 1])
        }
    }
}
