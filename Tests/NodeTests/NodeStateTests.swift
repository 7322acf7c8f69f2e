import Core
import SMATestSupport
import Testing
@testable import NodeServices

/// Memory applies log changes strictly in seq order, each decoded once.
@Suite struct NodeStateTests {
    @Test func entriesOfferedAheadOfAGapApplyInOrderOnceItIsFilled() {
        let (kek, _) = KeyEncryptionKey.generate()
        let state = NodeState(kek: kek, metrics: NodeMetrics(), logger: testLogger)
        let signer = LogSigner.generate()
        let create = LogChange.apiKeyCreated(.init(id: 1, name: "a", role: .admin, keyHash: APIKey.hash("sma_a")))
        let revoke = LogChange.apiKeyRevoked(.init(id: 1))
        let e1 = signer.sign(create, seq: 1, epoch: 1, timestampMillis: 0)
        let e2 = signer.sign(revoke, seq: 2, previousHash: e1.hash, epoch: 1, timestampMillis: 0)
        state.offer([(entry: e2, change: revoke)])
        #expect(state.applied == 0, "seq 2 waits for seq 1")
        state.offer([(entry: e1, change: create)])
        #expect(state.applied == 2)
        // Created, then revoked: applied out of order the key would still authenticate.
        #expect(state.apiKeys.authenticate("sma_a") == nil)
        // A duplicate offer changes nothing.
        state.offer([(entry: e1, change: create)])
        #expect(state.applied == 2 && state.apiKeys.authenticate("sma_a") == nil)
    }

    // MARK: Revocations ahead of their turn

    /// A signed chain of `changes` from seq 1, with their entries.
    private static func chain(_ changes: [LogChange]) -> [(entry: LogEntry, change: LogChange)] {
        let signer = LogSigner.generate()
        var previous = LogEntry.genesisHash
        var out: [(entry: LogEntry, change: LogChange)] = []
        for (i, c) in changes.enumerated() {
            let e = signer.sign(c, seq: Int64(i + 1), previousHash: previous, epoch: 1, timestampMillis: 0)
            previous = e.hash
            out.append((e, c))
        }
        return out
    }

    private static func provisioned(_ serial: String, digest: UInt8) -> LogChange {
        .deviceProvisioned(.init(serial: serial, family: "F", nucDigest: NUCDigest(Bytes32(Array(repeating: digest, count: 32))!),
                                 tableIDs: KeyTableTriple([1, 2, 3])!, certificateDER: [0x30]))
    }

    private static func revoked(_ state: NodeState, _ serial: String) -> Bool? {
        state.registry.device(serial: DeviceSerial(unchecked: serial))?.revoked
    }

    @Test func revocationAheadOfAGapTakesEffectAtOnce() {
        let state = NodeState(kek: KeyEncryptionKey.generate().0, metrics: NodeMetrics(), logger: testLogger)
        let log = Self.chain([Self.provisioned("CAM-1", digest: 1), .apiKeyCreated(.init(id: 9, name: "x", role: .admin, keyHash: APIKey.hash("k"))),
                              .deviceRevoked(.init(serial: "CAM-1", reason: "stolen"))])
        state.offer([log[0]])
        #expect(Self.revoked(state, "CAM-1") == false)
        state.offer([log[2]])
        #expect(state.applied == 1, "seq 3 waits for seq 2")
        #expect(Self.revoked(state, "CAM-1") == true, "but its revocation holds already")
        state.offer([log[1]])
        #expect(state.applied == 3 && Self.revoked(state, "CAM-1") == true)
    }

    @Test func earlyRevocationIsNotUndoneByAnEarlierReinstatementAppliedLater() {
        let state = NodeState(kek: KeyEncryptionKey.generate().0, metrics: NodeMetrics(), logger: testLogger)
        let log = Self.chain([Self.provisioned("CAM-1", digest: 1), .deviceRevoked(.init(serial: "CAM-1", reason: "a")),
                              .deviceReinstated(.init(serial: "CAM-1")), .deviceRevoked(.init(serial: "CAM-1", reason: "b")),
                              .deviceReinstated(.init(serial: "CAM-1"))])
        state.offer([log[0]])
        state.applyRevocationsEarly([log[3]])
        #expect(Self.revoked(state, "CAM-1") == true)
        state.offer([log[1], log[2]])
        #expect(state.applied == 3)
        #expect(Self.revoked(state, "CAM-1") == true, "the reinstatement at seq 3 is older than the revocation at seq 4")
        state.offer([log[3], log[4]])
        #expect(state.applied == 5)
        #expect(Self.revoked(state, "CAM-1") == false, "the reinstatement at seq 5 is newer: it clears it")
    }

    @Test func earlyRevocationOfADeviceNotYetProvisionedHoldsOnceItIsInserted() {
        let state = NodeState(kek: KeyEncryptionKey.generate().0, metrics: NodeMetrics(), logger: testLogger)
        let log = Self.chain([Self.provisioned("CAM-1", digest: 1), .deviceRevoked(.init(serial: "CAM-1", reason: "stolen"))])
        state.offer([log[1]])
        #expect(Self.revoked(state, "CAM-1") == nil, "memory does not have the device yet")
        state.offer([log[0]])
        #expect(state.applied == 2 && Self.revoked(state, "CAM-1") == true)
    }

    @Test func earlyKeyTableRetirementIsNotClearedByAnEarlierTableCreation() {
        let kek = KeyEncryptionKey.generate().0
        let state = NodeState(kek: kek, metrics: NodeMetrics(), logger: testLogger)
        let sealed = kek.seal(Array(repeating: 7, count: 32), label: "key_table:0")
        let log = Self.chain([.keyTablesCreated(.init(tables: [.init(id: 0, sealedMasterKey: sealed)])),
                              .keyTableRetired(.init(id: 0, effectiveMillis: 1_000))])
        state.applyRevocationsEarly([log[1]])
        #expect(state.registry.retirements[0] == 1_000)
        state.offer([log[0]])
        #expect(state.applied == 1 && state.registry.retirements[0] == 1_000, "created at seq 1, retired at seq 2")
        state.offer([log[1]])
        #expect(state.applied == 2 && state.registry.retirements[0] == 1_000)
    }

    @Test func earlyNodeRevocationTakesEffectAtOnce() {
        let state = NodeState(kek: KeyEncryptionKey.generate().0, metrics: NodeMetrics(), logger: testLogger)
        let log = Self.chain([.apiKeyCreated(.init(id: 9, name: "x", role: .admin, keyHash: APIKey.hash("k"))),
                              .nodeRevoked(.init(nodeID: "r2-n1", reason: "stolen"))])
        state.offer([log[1]])
        #expect(state.applied == 0 && state.isNodeRevoked("r2-n1"))
    }

    @Test func databaseThatMissedABatchIsBehindMemoryUntilItStoresUpToMemorysHead() {
        let state = NodeState(kek: KeyEncryptionKey.generate().0, metrics: NodeMetrics(), logger: testLogger)
        let log = Self.chain([Self.provisioned("CAM-1", digest: 1), Self.provisioned("CAM-2", digest: 2), Self.provisioned("CAM-3", digest: 3)])
        state.offer([log[0]])
        #expect(state.databaseHeadBehindMemory == nil)
        state.databaseFellBehind(memoryBefore: 1)
        state.offer([log[1], log[2]])
        #expect(state.databaseHeadBehindMemory == 1 && state.databaseServableSeq == 1)
        state.databaseStored(head: 2)
        #expect(state.databaseHeadBehindMemory == 2)
        #expect(state.databaseStored(head: 3), "in step again")
        #expect(state.databaseHeadBehindMemory == nil && state.databaseServableSeq == 3)
    }
}
