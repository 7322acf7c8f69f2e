import Testing
@testable import Core

@Suite struct AbuseLedgerTests {
    static let hour: Int64 = 3_600_000
    static let window: Int64 = 24 * hour

    func ledger(_ me: String = "a1", warn: UInt32 = 20, revoke: UInt32 = 30) -> AbuseLedger {
        AbuseLedger(me: me, thresholds: AbuseThresholds(warnPerWindow: warn, revokePerWindow: revoke, reportFloor: 1), windowMillis: Self.window)
    }

    func report(_ node: String, inc: UInt64 = 1, v: UInt64 = 1, at: Int64 = 0, seq: Int64 = 10, _ counts: [String: UInt32]) -> AbuseReport {
        AbuseReport(node: node, incarnation: inc, version: v, generatedAtMillis: at, appliedSeq: seq, counts: counts)
    }

    @Test func countsOfEveryNodeAreSummedWithABreakdown() {
        var l = ledger()
        l.setOwn(report("a1", ["CAM-1": 10, "CAM-2": 3]))
        l.merge([report("b1", ["CAM-1": 7]), report("c1", ["CAM-1": 5, "CAM-3": 1])], myIncarnation: 1, nowMillis: 0)
        let t = l.totals()
        #expect(t["CAM-1"]?.count == 22)
        #expect(t["CAM-1"]?.byNode == ["a1": 10, "b1": 7, "c1": 5])
        #expect(t["CAM-2"]?.count == 3)
        #expect(t["CAM-3"]?.count == 1)
    }

    @Test func aNewerVersionReplacesAnOlderOneAndStaleGossipIsIgnored() {
        var l = ledger()
        #expect(l.merge([report("b1", v: 2, ["CAM-1": 7])], myIncarnation: 1, nowMillis: 0) == 1)
        #expect(l.merge([report("b1", v: 1, ["CAM-1": 99])], myIncarnation: 1, nowMillis: 0) == 0)
        #expect(l.totals()["CAM-1"]?.count == 7)
        l.merge([report("b1", v: 3, ["CAM-1": 9])], myIncarnation: 1, nowMillis: 0)
        #expect(l.totals()["CAM-1"]?.count == 9)
    }

    @Test func ourCurrentIncarnationIsOursAloneButEarlierOnesComeBackFromPeers() {
        var l = ledger()
        l.setOwn(report("a1", inc: 5, ["CAM-1": 2]))
        // A peer's copy of our current report (or an impostor's) never overrides ours.
        l.merge([report("a1", inc: 5, v: 9, ["CAM-1": 500]), report("a1", inc: 6, ["CAM-1": 500])], myIncarnation: 5, nowMillis: 0)
        #expect(l.totals()["CAM-1"]?.count == 2)
        // Our previous incarnation's last report (before a restart) still counts.
        l.merge([report("a1", inc: 4, v: 40, ["CAM-1": 8])], myIncarnation: 5, nowMillis: 0)
        #expect(l.totals()["CAM-1"]?.count == 10)
        #expect(l.totals()["CAM-1"]?.byNode == ["a1": 10])
    }

    @Test func reportsExpireAWindowAfterTheyWereMade() {
        var l = ledger()
        l.merge([report("b1", at: 0, ["CAM-1": 7]), report("c1", at: 10 * Self.hour, ["CAM-1": 5])], myIncarnation: 1, nowMillis: 10 * Self.hour)
        l.expire(nowMillis: Self.window + 1)
        #expect(l.totals()["CAM-1"]?.count == 5)
        // Already expired reports are not taken.
        #expect(l.merge([report("d1", at: 0, ["CAM-1": 1])], myIncarnation: 1, nowMillis: Self.window + 1) == 0)
    }

    @Test func malformedOrOversizedReportsAreIgnored() {
        var l = ledger()
        var big: [String: UInt32] = [:]
        for i in 0...AbuseLedger.maxEntriesPerReport { big["CAM-\(i)"] = 1 }
        let taken = l.merge([report("", ["CAM-1": 1]), report("b1", seq: -1, ["CAM-1": 1]), report("c1", big),
                             report("d1", ["": 1]), report(String(repeating: "x", count: 300), ["CAM-1": 1]),
                             report("e1", at: 3 * Self.window, ["CAM-1": 1])], myIncarnation: 1, nowMillis: 0)
        #expect(taken == 0)
        #expect(l.totals().isEmpty)
        for i in 0..<(AbuseLedger.maxReports + 10) { l.merge([report("n\(i)", ["CAM-1": 1])], myIncarnation: 1, nowMillis: 0) }
        #expect(l.reports.count == AbuseLedger.maxReports)
    }

    @Test func anAnswerCarriesOnlyWhatThePeerLacksOrHasOlder() {
        var l = ledger()
        l.setOwn(report("a1", v: 3, ["CAM-1": 1]))
        l.merge([report("b1", v: 2, ["CAM-1": 1]), report("c1", v: 1, ["CAM-1": 1])], myIncarnation: 1, nowMillis: 0)
        let theirs = [report("a1", v: 3, [:]), report("b1", v: 1, [:]), report("c1", v: 4, [:])]
        #expect(l.reports(newerThan: theirs).map(\.node) == ["b1"])
        #expect(l.reports(newerThan: []).map(\.node) == ["a1", "b1", "c1"])
    }

    @Test func onlyTheLeaderWarnsOnceAndRevokesOnce() {
        var l = ledger()
        l.setOwn(report("a1", ["CAM-W": 12, "CAM-R": 16, "CAM-OK": 5]))
        l.merge([report("b1", ["CAM-W": 9, "CAM-R": 16])], myIncarnation: 1, nowMillis: 0)
        let notRevoked: (String) -> Bool? = { _ in false }
        #expect(l.evaluate(nowMillis: 0, isLeader: false, isRevoked: notRevoked).isEmpty)
        let actions = l.evaluate(nowMillis: 0, isLeader: true, isRevoked: notRevoked)
        #expect(actions == [.warn(serial: "CAM-R", count: 32), .revoke(serial: "CAM-R", count: 32), .warn(serial: "CAM-W", count: 21)])
        // Nothing again while the revocation is in flight, nor a second warning in this window.
        #expect(l.evaluate(nowMillis: 1000, isLeader: true, isRevoked: notRevoked).isEmpty)
        // A revocation that did not take effect is retried after revokeRetryMillis.
        #expect(l.evaluate(nowMillis: l.revokeRetryMillis + 1, isLeader: true, isRevoked: notRevoked) == [.revoke(serial: "CAM-R", count: 32)])
        // Revoked devices and unknown devices get nothing.
        #expect(l.evaluate(nowMillis: 10 * l.revokeRetryMillis, isLeader: true, isRevoked: { $0 == "CAM-R" ? true : nil }).isEmpty)
    }

    @Test func zeroThresholdsDisableWarningsAndRevocations() {
        var l = AbuseLedger(me: "a1", thresholds: AbuseThresholds(warnPerWindow: 0, revokePerWindow: 30, reportFloor: 1))
        l.setOwn(report("a1", ["CAM-1": 100]))
        #expect(l.evaluate(nowMillis: 0, isLeader: true) { _ in false } == [.revoke(serial: "CAM-1", count: 100)])
        var off = AbuseLedger(me: "a1", thresholds: AbuseThresholds(warnPerWindow: 0, revokePerWindow: 0, reportFloor: 1))
        off.setOwn(report("a1", ["CAM-1": 100]))
        #expect(off.evaluate(nowMillis: 0, isLeader: true) { _ in false }.isEmpty)
    }

    @Test func aReinstatedDeviceIsNotRevokedAgainByTheSameOldCounts() {
        var l = ledger()
        // Three nodes saw 36 validations before the device was revoked (seq 20) and reinstated (seq 21).
        l.setOwn(report("a1", seq: 19, ["CAM-1": 12]))
        l.merge([report("b1", seq: 19, ["CAM-1": 12]), report("c1", inc: 1, seq: 19, ["CAM-1": 12])], myIncarnation: 1, nowMillis: 0)
        #expect(l.evaluate(nowMillis: 0, isLeader: true) { _ in false }.contains(.revoke(serial: "CAM-1", count: 36)))
        l.deviceReinstated(serial: "CAM-1", seq: 21, nowMillis: 1000)
        // Old reports (made before seq 21) no longer count for it, even from nodes that have not caught up.
        #expect(l.totals()["CAM-1"] == nil)
        #expect(l.evaluate(nowMillis: 2000, isLeader: true) { _ in false }.isEmpty)
        // New counts made after the reinstatement count from zero again, and may cross the thresholds again.
        l.setOwn(report("a1", v: 2, at: 3000, seq: 21, ["CAM-1": 15]))
        l.merge([report("b1", v: 2, at: 3000, seq: 22, ["CAM-1": 16])], myIncarnation: 1, nowMillis: 3000)
        #expect(l.totals()["CAM-1"]?.count == 31)
        #expect(l.evaluate(nowMillis: 4000, isLeader: true) { _ in false } == [.warn(serial: "CAM-1", count: 31), .revoke(serial: "CAM-1", count: 31)])
    }
}
