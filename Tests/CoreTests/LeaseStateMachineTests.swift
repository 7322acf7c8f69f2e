import Core
import Testing

@Suite struct LeaseStateMachineTests {
    let t0 = ContinuousClock.now

    @Test func heldLeaseAllowsWritingForEightyPercentOfTheTTLFromTheAttemptStart() {
        var m = LeaseStateMachine(nodeID: "a1", ttl: .seconds(5))
        #expect(m.fence(at: t0) == nil)
        #expect(m.record(.held(epoch: 3), startedAt: t0) == .tookLease(epoch: 3))
        #expect(m.fence(at: t0.advanced(by: .seconds(3.9)))?.epoch == 3)
        #expect(m.fence(at: t0.advanced(by: .seconds(4))) == nil)
    }

    @Test func renewalExtendsAndDoesNotReportATakeover() {
        var m = LeaseStateMachine(nodeID: "a1", ttl: .seconds(5))
        _ = m.record(.held(epoch: 3), startedAt: t0)
        #expect(m.record(.held(epoch: 3), startedAt: t0.advanced(by: .seconds(1.6))) == nil)
        #expect(m.fence(at: t0.advanced(by: .seconds(5.5)))?.epoch == 3)
    }

    @Test func failedRenewalsStopWritingAtTheOldDeadline() {
        var m = LeaseStateMachine(nodeID: "a1", ttl: .seconds(3))
        _ = m.record(.held(epoch: 1), startedAt: t0)
        _ = m.record(.failed, startedAt: t0.advanced(by: .seconds(1)))
        #expect(m.fence(at: t0.advanced(by: .seconds(2))) != nil)
        #expect(m.fence(at: t0.advanced(by: .seconds(2.5))) == nil)
    }

    @Test func anotherHolderDeposesUsAtOnce() {
        var m = LeaseStateMachine(nodeID: "a1", ttl: .seconds(5))
        _ = m.record(.held(epoch: 1), startedAt: t0)
        #expect(m.record(.heldByOther(holder: "a2", epoch: 2), startedAt: t0.advanced(by: .seconds(1))) == .lostLease(newHolder: "a2"))
        #expect(m.fence(at: t0.advanced(by: .seconds(1))) == nil)
        #expect(m.knownHolder == "a2" && m.knownEpoch == 2)
    }

    @Test func takeoverAfterLosingIsReportedWithTheNewEpoch() {
        var m = LeaseStateMachine(nodeID: "a1", ttl: .seconds(5))
        _ = m.record(.heldByOther(holder: "a2", epoch: 4), startedAt: t0)
        #expect(m.record(.held(epoch: 5), startedAt: t0.advanced(by: .seconds(6))) == .tookLease(epoch: 5))
    }

    @Test func standbyRetriesSoonerThanTheLeaderRenews() {
        var m = LeaseStateMachine(nodeID: "a1", ttl: .seconds(6))
        #expect(m.nextAttempt(after: t0) == .milliseconds(250))
        _ = m.record(.held(epoch: 1), startedAt: t0)
        #expect(m.nextAttempt(after: t0) == .seconds(2))
    }
}
