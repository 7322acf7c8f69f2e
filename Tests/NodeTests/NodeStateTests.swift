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
}
