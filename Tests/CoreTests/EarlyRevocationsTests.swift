import Core
import Testing

/// A revocation applied to memory ahead of its turn holds against earlier entries until memory reaches it.
@Suite struct EarlyRevocationsTests {
    let serial = DeviceSerial(unchecked: "CAM-1")

    @Test func earlyRevocationStaysRevokedThroughAnInOrderReinstatementWithALowerSeq() {
        var holds = EarlyRevocations()
        let ahead = holds.deviceRevoked(serial, at: 10, applied: 5)
        #expect(ahead, "seq 10 is ahead of memory at 5")
        // Memory now applies seq 7, a reinstatement written before the revocation.
        #expect(holds.holdsDeviceRevoked(serial, after: 7))
        holds.release(through: 7)
        #expect(holds.holdsDeviceRevoked(serial, after: 9))
    }

    @Test func reinstatementWithAHigherSeqClearsTheEarlyRevocation() {
        var holds = EarlyRevocations()
        _ = holds.deviceRevoked(serial, at: 10, applied: 5)
        // Memory reaches the revocation itself in order: the hold is released ...
        holds.release(through: 10)
        #expect(holds.count == 0)
        // ... so a reinstatement at 12 applies as usual.
        #expect(!holds.holdsDeviceRevoked(serial, after: 12))
    }

    @Test func revocationBeforeTheDeviceIsInsertedHoldsOnceItIsInserted() {
        var holds = EarlyRevocations()
        _ = holds.deviceRevoked(serial, at: 10, applied: 1)
        // The provisioning at seq 3 inserts the device: it must come in revoked.
        #expect(holds.holdsDeviceRevoked(serial, after: 3))
        #expect(!holds.holdsDeviceRevoked(DeviceSerial(unchecked: "CAM-2"), after: 3))
    }

    @Test func revocationMemoryHasAlreadyAppliedIsNotEarly() {
        var holds = EarlyRevocations()
        let ahead = holds.deviceRevoked(serial, at: 5, applied: 5)
        #expect(!ahead)
        #expect(holds.count == 0)
    }

    @Test func theHighestEarlyRevocationOfADeviceHolds() {
        var holds = EarlyRevocations()
        _ = holds.deviceRevoked(serial, at: 20, applied: 1)
        _ = holds.deviceRevoked(serial, at: 10, applied: 1)
        holds.release(through: 15)
        #expect(holds.holdsDeviceRevoked(serial, after: 16), "the revocation at 20 still holds against a reinstatement at 16")
    }

    @Test func earlyTableRetirementHoldsThroughAnEarlierKeyTableCreation() {
        var holds = EarlyRevocations()
        let set = holds.tableRetired(4, effectiveMillis: 1_000, at: 10, applied: 2, memoryHasRetirement: false)
        #expect(set == 1_000)
        #expect(holds.tableHold(4, after: 6)?.effectiveMillis == 1_000)
        #expect(holds.tableHold(4, after: 6)?.provisional == true)
        holds.release(through: 10)
        #expect(holds.tableHold(4, after: 11) == nil)
    }

    @Test func earlyTableRetirementLeavesAnExistingRetirementStanding() {
        var holds = EarlyRevocations()
        let set = holds.tableRetired(4, effectiveMillis: 1_000, at: 10, applied: 2, memoryHasRetirement: true)
        #expect(set == nil)
        #expect(holds.tableHold(4, after: 6)?.provisional == false)
    }

    @Test func earlyAPIKeyRevocationHoldsThroughTheKeysEarlierCreation() {
        var holds = EarlyRevocations()
        let ahead = holds.apiKeyRevoked(7, effectiveMillis: nil, at: 9, applied: 3)
        #expect(ahead)
        #expect(holds.apiKeyHold(7, after: 4) != nil)
        #expect(holds.apiKeyHold(8, after: 4) == nil)
        holds.release(through: 9)
        #expect(holds.apiKeyHold(7, after: 4) == nil)
    }
}

/// A node's knowledge is as old as the last moment it knew it had everything the leader had.
@Suite struct LeaderContactTests {
    let t0 = ContinuousClock.now

    @Test func knowledgeAgesFromStartUntilTheLeaderIsHeardFrom() {
        let contact = LeaderContact(start: t0)
        #expect(contact.age(at: t0 + .seconds(3)) == .seconds(3))
    }

    @Test func aNewerHeartbeatOfTheLeaderWhileCaughtUpIsContact() {
        var contact = LeaderContact(start: t0)
        let first = contact.observeRecord(leader: "L", incarnation: 1, heartbeat: 5, appliedSeq: 10, applied: 10, now: t0 + .seconds(1))
        #expect(!first, "the first record of a leader may be old")
        let newer = contact.observeRecord(leader: "L", incarnation: 1, heartbeat: 6, appliedSeq: 10, applied: 10, now: t0 + .seconds(2))
        #expect(newer)
        #expect(contact.age(at: t0 + .seconds(5)) == .seconds(3))
        // The same version again is not news.
        let again = contact.observeRecord(leader: "L", incarnation: 1, heartbeat: 6, appliedSeq: 10, applied: 10, now: t0 + .seconds(4))
        #expect(!again)
        #expect(contact.age(at: t0 + .seconds(5)) == .seconds(3))
    }

    @Test func leaderAheadOfUsCountsOnlyOnceWeReachItsSeq() {
        var contact = LeaderContact(start: t0)
        contact.observeRecord(leader: "L", incarnation: 1, heartbeat: 1, appliedSeq: 10, applied: 10, now: t0)
        contact.observeRecord(leader: "L", incarnation: 1, heartbeat: 2, appliedSeq: 12, applied: 10, now: t0 + .seconds(2))
        #expect(contact.age(at: t0 + .seconds(4)) == .seconds(4), "not current yet: seq 11-12 missing")
        contact.resolve(applied: 12)
        #expect(contact.age(at: t0 + .seconds(4)) == .seconds(2), "current as of when the leader was at 12")
    }

    @Test func aPushFromTheLeaderIsContactButFromAnotherNodeIsNot() {
        var contact = LeaderContact(start: t0)
        contact.observeRecord(leader: "L", incarnation: 1, heartbeat: 1, appliedSeq: 1, applied: 1, now: t0)
        let other = contact.observeDirect(from: "X", head: 5, applied: 5, now: t0 + .seconds(3))
        let leader = contact.observeDirect(from: "L", head: 5, applied: 5, now: t0 + .seconds(3))
        #expect(!other && leader)
        #expect(contact.age(at: t0 + .seconds(4)) == .seconds(1))
    }
}
