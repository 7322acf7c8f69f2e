import Testing
@testable import Core

@Suite struct AbuseLedgerTests {
    static let hour: Int64 = 3_600_000
    static let window: Int64 = 24 * hour

    func ledger(_ me: String = "a1", warn: UInt32 = 20, revoke: UInt32 = 30, warnOnly: Bool = false) -> AbuseLedger {
        AbuseLedger(me: me, thresholds: AbuseThresholds(warnPerWindow: warn, revokePerWindow: revoke, reportFloor: 1, warnOnly: warnOnly),
                    windowMillis: Self.window)
    }

    func report(_ node: String, inc: UInt64 = 1, v: UInt64 = 1, at: Int64 = 0, seq: Int64 = 10, _ counts: [String: UInt32]) -> AbuseReport {
        AbuseReport(node: node, incarnation: inc, version: v, generatedAtMillis: at, appliedSeq: seq, counts: counts)
    }

    /// Each report arrives first-hand: from its own node's authenticated connection, a member.
    @discardableResult
    func take(_ l: inout AbuseLedger, _ reports: [AbuseReport], now: Int64 = 0) -> Int {
        reports.reduce(0) { $0 + l.receive([$1], from: $1.node, reporterIsMember: true, nowMillis: now).taken }
    }

    let notRevoked: (String) -> Bool? = { _ in false }

    @Test func countsOfEveryNodeAreSummedWithABreakdown() {
        var l = ledger()
        l.setOwn(report("a1", ["CAM-1": 10, "CAM-2": 3]))
        take(&l, [report("b1", ["CAM-1": 7]), report("c1", ["CAM-1": 5, "CAM-3": 1])])
        let t = l.totals()
        #expect(t["CAM-1"]?.count == 22)
        #expect(t["CAM-1"]?.byNode == ["a1": 10, "b1": 7, "c1": 5])
        #expect(t["CAM-2"]?.count == 3)
        #expect(t["CAM-3"]?.count == 1)
    }

    @Test func aNewerVersionReplacesAnOlderOneAndStaleGossipIsIgnored() {
        var l = ledger()
        #expect(take(&l, [report("b1", v: 2, ["CAM-1": 7])]) == 1)
        #expect(l.receive([report("b1", v: 1, ["CAM-1": 99])], from: "b1", reporterIsMember: true, nowMillis: 0).refused == [.notNewer])
        #expect(l.totals()["CAM-1"]?.count == 7)
        take(&l, [report("b1", v: 3, ["CAM-1": 9])])
        #expect(l.totals()["CAM-1"]?.count == 9)
    }

    @Test func aForgedReportFromAnAuthenticatedPeerAboutAnotherNodeIsRefused() {
        var l = ledger()
        // b1's certificate authenticated the connection; the report claims to be c1's (or a node that does not exist).
        let outcome = l.receive([report("c1", ["CAM-1": 50_000])], from: "b1", reporterIsMember: true, nowMillis: 0)
        #expect(outcome.taken == 0 && outcome.refused == [.notFromReporter])
        #expect(l.receive([report("fake", ["CAM-1": 50_000])], from: "b1", reporterIsMember: true, nowMillis: 0).refused == [.notFromReporter])
        // Reports about us are ours alone, whoever sends them.
        l.setOwn(report("a1", inc: 5, ["CAM-1": 2]))
        #expect(l.receive([report("a1", inc: 5, v: 9, ["CAM-1": 500])], from: "a1", reporterIsMember: true, nowMillis: 0).refused == [.aboutUs])
        #expect(l.receive([report("a1", inc: 6, ["CAM-1": 500])], from: "b1", reporterIsMember: true, nowMillis: 0).taken == 0)
        // A certificate whose id is not a member of the cluster reports nothing.
        #expect(l.receive([report("x9", ["CAM-1": 500])], from: "x9", reporterIsMember: false, nowMillis: 0).refused == [.unknownReporter])
        #expect(l.totals()["CAM-1"]?.byNode == ["a1": 2])
    }

    @Test func aReportDatedInTheFutureIsRefused() {
        var l = ledger()
        let now = 100 * Self.hour
        let ahead = report("b1", at: now + AbuseLedger.maxFutureSkewMillis + 1, ["CAM-1": 7])
        #expect(l.receive([ahead], from: "b1", reporterIsMember: true, nowMillis: now).refused == [.future])
        // Within the allowed clock skew it is taken.
        #expect(take(&l, [report("b1", at: now + AbuseLedger.maxFutureSkewMillis, ["CAM-1": 7])], now: now) == 1)
    }

    @Test func reportsExpireAWindowAfterTheyWereMade() {
        var l = ledger()
        take(&l, [report("b1", at: 0, ["CAM-1": 7]), report("c1", at: 10 * Self.hour, ["CAM-1": 5])], now: 10 * Self.hour)
        l.expire(nowMillis: Self.window + 1)
        #expect(l.totals()["CAM-1"]?.count == 5)
        // Already expired reports are not taken.
        #expect(l.receive([report("d1", at: 0, ["CAM-1": 1])], from: "d1", reporterIsMember: true, nowMillis: Self.window + 1).refused == [.expired])
    }

    @Test func malformedOrOversizedReportsAreIgnored() {
        var l = ledger()
        var big: [String: UInt32] = [:]
        for i in 0...AbuseLedger.maxEntriesPerReport { big["CAM-\(i)"] = 1 }
        let long = String(repeating: "x", count: 300)
        let taken = take(&l, [report("", ["CAM-1": 1]), report("b1", seq: -1, ["CAM-1": 1]), report("c1", big),
                              report("d1", ["": 1]), report(long, ["CAM-1": 1])])
        #expect(taken == 0)
        #expect(l.totals().isEmpty)
        // More reports in one message than a node has incarnations to hold: the excess is refused.
        let many = (1...5).map { report("e1", inc: UInt64($0), ["CAM-1": 1]) }
        #expect(l.receive(many, from: "e1", reporterIsMember: true, nowMillis: 0).taken == AbuseLedger.maxIncarnationsPerNode)
    }

    @Test func fakeReportersCannotEvictARealOne() {
        var l = ledger()
        take(&l, [report("b1", ["CAM-1": 7])])
        // 128 (or more) invented node ids, sent over a real member's connection or over a non-member's: none is held.
        for i in 0..<128 {
            l.receive([report("fake-\(i)", ["CAM-1": 1])], from: "b1", reporterIsMember: true, nowMillis: 0)
            l.receive([report("fake-\(i)", ["CAM-1": 1])], from: "fake-\(i)", reporterIsMember: false, nowMillis: 0)
        }
        #expect(l.reports.keys.map(\.node) == ["b1"])
        // A real member cycling incarnations holds at most two: its own slots, nobody else's.
        for inc in 2...200 { take(&l, [report("c1", inc: UInt64(inc), ["CAM-1": 1])]) }
        #expect(l.reports.keys.filter { $0.node == "c1" }.map(\.incarnation).sorted() == [199, 200])
        #expect(l.totals()["CAM-1"]?.byNode == ["b1": 7, "c1": 2])
        // An older incarnation than both held is refused.
        #expect(l.receive([report("c1", inc: 1, ["CAM-1": 1])], from: "c1", reporterIsMember: true, nowMillis: 0).refused == [.notNewer])
    }

    @Test func aRestartedNodesPreviousIncarnationStillCounts() {
        var l = ledger()
        take(&l, [report("b1", inc: 4, v: 40, ["CAM-1": 8]), report("b1", inc: 5, ["CAM-1": 2])])
        #expect(l.totals()["CAM-1"]?.byNode == ["b1": 10])
    }

    @Test func onlyTheLeaderWarnsOnceAndRevokesOnce() {
        var l = ledger()
        l.setOwn(report("a1", ["CAM-W": 12, "CAM-R": 16, "CAM-OK": 5]))
        take(&l, [report("b1", ["CAM-W": 9, "CAM-R": 16])])
        #expect(l.evaluate(nowMillis: 0, isLeader: false, isRevoked: notRevoked).isEmpty)
        let actions = l.evaluate(nowMillis: 0, isLeader: true, isRevoked: notRevoked)
        let by = [AbuseLedger.Contribution(node: "a1", count: 16), .init(node: "b1", count: 16)]
        #expect(actions == [.warn(serial: "CAM-R", count: 32), .revoke(serial: "CAM-R", count: 32, contributors: by),
                            .warn(serial: "CAM-W", count: 21)])
        // Nothing again while the revocation is in flight, nor a second warning in this window.
        #expect(l.evaluate(nowMillis: 1000, isLeader: true, isRevoked: notRevoked).isEmpty)
        // A revocation that did not take effect is retried after revokeRetryMillis.
        #expect(l.evaluate(nowMillis: l.revokeRetryMillis + 1, isLeader: true, isRevoked: notRevoked)
                == [.revoke(serial: "CAM-R", count: 32, contributors: by)])
        // Revoked devices and unknown devices get nothing.
        #expect(l.evaluate(nowMillis: 10 * l.revokeRetryMillis, isLeader: true, isRevoked: { $0 == "CAM-R" ? true : nil }).isEmpty)
    }

    @Test func aSingleNodesCountsAboveTheRevokeThresholdOnlyWarn() {
        var l = ledger()
        // b1 is authenticated and a member, but may be the compromised one: its word alone never revokes.
        take(&l, [report("b1", ["CAM-1": 50_000])])
        let by = [AbuseLedger.Contribution(node: "b1", count: 50_000)]
        #expect(l.evaluate(nowMillis: 0, isLeader: true, isRevoked: notRevoked)
                == [.warn(serial: "CAM-1", count: 50_000), .withhold(serial: "CAM-1", count: 50_000, reason: .uncorroborated, contributors: by)])
        // Withheld once per window.
        #expect(l.evaluate(nowMillis: 1000, isLeader: true, isRevoked: notRevoked).isEmpty)
        // A second node's small count does not corroborate it either (each other node adds at most half the threshold).
        take(&l, [report("c1", ["CAM-1": 14])])
        #expect(l.evaluate(nowMillis: 2000, isLeader: true, isRevoked: notRevoked).isEmpty)
        // Once the second node itself saw half the threshold, the count is corroborated.
        take(&l, [report("c1", v: 2, ["CAM-1": 15])])
        #expect(l.evaluate(nowMillis: 3000, isLeader: true, isRevoked: notRevoked)
                == [.revoke(serial: "CAM-1", count: 50_015, contributors: [.init(node: "b1", count: 50_000), .init(node: "c1", count: 15)])])
    }

    @Test func theLeadersOwnCountsAreEvidenceEnough() {
        var l = ledger()
        l.setOwn(report("a1", ["CAM-1": 30]))
        #expect(l.evaluate(nowMillis: 0, isLeader: true, isRevoked: notRevoked)
                == [.warn(serial: "CAM-1", count: 30), .revoke(serial: "CAM-1", count: 30, contributors: [.init(node: "a1", count: 30)])])
    }

    @Test func warnOnlyNeverRevokes() {
        var l = ledger(warnOnly: true)
        l.setOwn(report("a1", ["CAM-1": 100]))
        take(&l, [report("b1", ["CAM-1": 100])])
        let by = [AbuseLedger.Contribution(node: "a1", count: 100), .init(node: "b1", count: 100)]
        #expect(l.evaluate(nowMillis: 0, isLeader: true, isRevoked: notRevoked)
                == [.warn(serial: "CAM-1", count: 200), .withhold(serial: "CAM-1", count: 200, reason: .warnOnly, contributors: by)])
        #expect(l.evaluate(nowMillis: 10 * l.revokeRetryMillis, isLeader: true, isRevoked: notRevoked).isEmpty)
    }

    @Test func zeroThresholdsDisableWarningsAndRevocations() {
        var l = AbuseLedger(me: "a1", thresholds: AbuseThresholds(warnPerWindow: 0, revokePerWindow: 30, reportFloor: 1))
        l.setOwn(report("a1", ["CAM-1": 100]))
        #expect(l.evaluate(nowMillis: 0, isLeader: true) { _ in false } == [.revoke(serial: "CAM-1", count: 100, contributors: [.init(node: "a1", count: 100)])])
        var off = AbuseLedger(me: "a1", thresholds: AbuseThresholds(warnPerWindow: 0, revokePerWindow: 0, reportFloor: 1))
        off.setOwn(report("a1", ["CAM-1": 100]))
        #expect(off.evaluate(nowMillis: 0, isLeader: true) { _ in false }.isEmpty)
    }

    @Test func aReinstatedDeviceIsNotRevokedAgainByTheSameOldCounts() {
        var l = ledger()
        // Three nodes saw 36 validations before the device was revoked (seq 20) and reinstated (seq 21).
        l.setOwn(report("a1", seq: 19, ["CAM-1": 12]))
        take(&l, [report("b1", seq: 19, ["CAM-1": 12]), report("c1", inc: 1, seq: 19, ["CAM-1": 12])])
        #expect(l.evaluate(nowMillis: 0, isLeader: true) { _ in false }.contains {
            if case .revoke(serial: "CAM-1", count: 36, _) = $0 { return true } else { return false }
        })
        l.deviceReinstated(serial: "CAM-1", seq: 21, nowMillis: 1000)
        // Old reports (made before seq 21) no longer count for it, even from nodes that have not caught up.
        #expect(l.totals()["CAM-1"] == nil)
        #expect(l.evaluate(nowMillis: 2000, isLeader: true) { _ in false }.isEmpty)
        // New counts made after the reinstatement count from zero again, and may cross the thresholds again.
        l.setOwn(report("a1", v: 2, at: 3000, seq: 21, ["CAM-1": 15]))
        take(&l, [report("b1", v: 2, at: 3000, seq: 22, ["CAM-1": 16])], now: 3000)
        #expect(l.totals()["CAM-1"]?.count == 31)
        #expect(l.evaluate(nowMillis: 4000, isLeader: true) { _ in false } == [
            .warn(serial: "CAM-1", count: 31),
            .revoke(serial: "CAM-1", count: 31, contributors: [.init(node: "b1", count: 16), .init(node: "a1", count: 15)])])
    }
}
