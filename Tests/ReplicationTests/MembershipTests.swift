import Foundation
@testable import Replication
import Testing

/// SplitMix64: a tiny deterministic generator so every pick in these tests is repeatable.
private struct SeededRNG: RandomNumberGenerator {
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

@Suite struct MembershipTests {
    /// All instants are offsets from this one reading.
    let t0 = ContinuousClock.now
    let timing = MembershipTiming.lan

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { t0 + .milliseconds(milliseconds) }

    func info(
        _ id: String,
        region: String = "r1",
        heartbeat: UInt64 = 1,
        appliedSeq: Int64 = 0,
        leaderEpoch: Int64 = 0,
        isLeader: Bool = false,
        incarnation: UInt64 = 1
    ) -> MemberInfo {
        MemberInfo(
            id: id, region: region, role: MemberInfo.followerRole,
            peerURL: "https://\(id).test:7000", publicURL: "http://\(id).test:8000",
            heartbeat: heartbeat, appliedSeq: appliedSeq, leaderEpoch: leaderEpoch,
            isLeader: isLeader, incarnation: incarnation
        )
    }

    func node(_ id: String, region: String = "r1", appliedSeq: Int64 = 0) -> Membership {
        Membership(me: info(id, region: region, heartbeat: 0, appliedSeq: appliedSeq), timing: timing, now: t0)
    }

    // MARK: Joining and heartbeats

    @Test func joinerKnowingOnlyASeedLearnsEveryMemberAfterGossipingWithOnePeer() {
        var rng = SeededRNG(seed: 1)
        var seed = node("r1-n1")
        seed.merge([info("r1-n2"), info("r2-n1", region: "r2"), info("r2-n2", region: "r2")], now: t0)

        var joiner = node("r3-n1", region: "r3")
        let targets = joiner.startRound(now: at(200), seeds: ["https://r1-n1.test:7000", joiner.me.peerURL], using: &rng)
        #expect(targets == [.seed("https://r1-n1.test:7000")])  // never our own URL

        // Request carries the joiner's digest; the response carries the seed's.
        seed.merge(joiner.digest(), now: at(200))
        let changes = joiner.merge(seed.digest(), now: at(200))

        #expect(joiner.members.map(\.info.id) == ["r1-n1", "r1-n2", "r2-n1", "r2-n2", "r3-n1"])
        #expect(joiner.members.allSatisfy { $0.status == .alive })
        #expect(Set(changes.map(\.id)) == ["r1-n1", "r1-n2", "r2-n1", "r2-n2"])
        #expect(changes.allSatisfy { $0.from == nil && $0.to == .alive })
        #expect(seed.member(id: "r3-n1")?.status == .alive)

        // Next round gossips with known members, not seeds, and never with ourselves.
        let next = joiner.startRound(now: at(400), seeds: ["https://r1-n1.test:7000"], using: &rng)
        #expect(!next.isEmpty && next.count <= timing.fanout)
        #expect(next.allSatisfy { if case .member(let m) = $0 { m.id != "r3-n1" } else { false } })
    }

    @Test func heartbeatsAdvanceOnlyForOurselves() {
        var rng = SeededRNG(seed: 2)
        var a = node("a")
        a.merge([info("b", heartbeat: 7)], now: t0)
        for round in 1...5 {
            _ = a.startRound(now: at(round * 200), seeds: [], using: &rng)
        }
        #expect(a.me.heartbeat == 5)
        #expect(a.member(id: "a")?.info.heartbeat == 5)
        #expect(a.member(id: "b")?.info.heartbeat == 7)  // others' heartbeats only move when they gossip
        #expect(a.digest().first == a.me)
    }

    @Test func selfUpdatesSpreadWithTheNextRound() {
        var rng = SeededRNG(seed: 3)
        var a = node("a")
        var b = node("b")
        b.merge(a.digest(), now: t0)
        a.updateSelf(appliedSeq: 42, leaderEpoch: 3, isLeader: true)
        _ = a.startRound(now: at(200), seeds: [], using: &rng)
        b.merge(a.digest(), now: at(200))
        #expect(b.member(id: "a")?.info.appliedSeq == 42)
        #expect(b.leader?.id == "a")
    }

    // MARK: Failure detection

    @Test func stalledMemberBecomesSuspectThenDeadThenAliveWhenItAdvances() {
        var a = node("a")
        a.merge([info("b", heartbeat: 10)], now: t0)

        #expect(a.evaluate(now: at(1_400)).isEmpty)
        #expect(a.evaluate(now: at(1_500)) == [MembershipChange(id: "b", from: .alive, to: .suspect)])
        #expect(a.evaluate(now: at(4_999)).isEmpty)
        #expect(a.evaluate(now: at(5_000)) == [MembershipChange(id: "b", from: .suspect, to: .dead)])

        // The same heartbeat again is not an advance.
        #expect(a.merge([info("b", heartbeat: 10)], now: at(6_000)).isEmpty)
        #expect(a.member(id: "b")?.status == .dead)

        #expect(a.merge([info("b", heartbeat: 11)], now: at(7_000)) == [MembershipChange(id: "b", from: .dead, to: .alive)])
        #expect(a.member(id: "b")?.lastAdvanced == at(7_000))
        #expect(a.evaluate(now: at(8_000)).isEmpty)
    }

    @Test func longDeadMembersAreDroppedAndNotResurrectedByStaleGossip() {
        var rng = SeededRNG(seed: 4)
        var a = node("a")
        a.merge([info("b", heartbeat: 10), info("c", heartbeat: 1)], now: t0)
        a.merge([info("c", heartbeat: 2)], now: at(50_000))

        // Dead members are still in the digest so their death spreads...
        _ = a.evaluate(now: at(54_000))
        #expect(a.member(id: "b")?.status == .dead)
        #expect(a.digest().contains { $0.id == "b" })

        // ...until they have been dead for more than 10 x deadAfter.
        _ = a.startRound(now: at(55_001), seeds: [], using: &rng)
        #expect(a.member(id: "b") == nil)
        #expect(!a.digest().contains { $0.id == "b" })
        #expect(a.member(id: "c")?.status == .dead)

        // A peer still holding the old entry cannot bring it back; a real advance can.
        #expect(a.merge([info("b", heartbeat: 10)], now: at(56_000)).isEmpty)
        #expect(a.member(id: "b") == nil)
        #expect(a.merge([info("b", heartbeat: 11)], now: at(57_000)) == [MembershipChange(id: "b", from: nil, to: .alive)])
    }

    @Test func restartedMemberWithHigherIncarnationReplacesItsOldEntry() {
        var a = node("a")
        a.merge([info("b", heartbeat: 500, appliedSeq: 90, incarnation: 1_000)], now: t0)

        a.merge([info("b", heartbeat: 1, appliedSeq: 10, incarnation: 2_000)], now: at(100))
        #expect(a.member(id: "b")?.info.heartbeat == 1)
        #expect(a.member(id: "b")?.info.incarnation == 2_000)
        #expect(a.member(id: "b")?.lastAdvanced == at(100))

        // Gossip still carrying the previous life is stale.
        a.merge([info("b", heartbeat: 900, appliedSeq: 95, incarnation: 1_000)], now: at(200))
        #expect(a.member(id: "b")?.info.incarnation == 2_000)
        #expect(a.member(id: "b")?.info.appliedSeq == 10)
    }

    @Test func peerCannotOverwriteOurOwnEntry() {
        var a = Membership(me: info("a", heartbeat: 3, appliedSeq: 5, incarnation: 10), timing: timing, now: t0)
        let mine = a.me
        var impostor = info("a", heartbeat: .max, appliedSeq: 1_000, leaderEpoch: 99, isLeader: true, incarnation: .max)
        impostor.peerURL = "https://evil.test:7000"
        let changes = a.merge([impostor, info("a", heartbeat: 1, incarnation: 1)], now: at(100))
        #expect(changes.isEmpty)
        #expect(a.me == mine)
        #expect(a.members.map(\.info) == [mine])
        #expect(a.leader == nil)
        #expect(a.highestKnownSeq == 5)
    }

    // MARK: Derived views

    @Test func leaderIsTheHighestEpochAmongLiveClaimantsAndNeverADeadOldLeader() {
        var a = node("a")
        #expect(a.leader == nil)
        a.merge([info("old", leaderEpoch: 7, isLeader: true)], now: t0)
        a.merge(
            [
                info("new", leaderEpoch: 5, isLeader: true),
                info("stale-claim", leaderEpoch: 3, isLeader: true),
                info("follower", leaderEpoch: 0),
            ],
            now: at(3_000)
        )
        #expect(a.leader?.id == "old")

        // "old" stops advancing; once dead it is not chosen even though its epoch is highest,
        // while "new", merely suspect, still counts.
        _ = a.evaluate(now: at(5_500))
        #expect(a.member(id: "old")?.status == .dead)
        #expect(a.member(id: "new")?.status == .suspect)
        #expect(a.leader?.id == "new")

        // We count too, when we hold the lease.
        a.updateSelf(appliedSeq: 0, leaderEpoch: 6, isLeader: true)
        #expect(a.leader?.id == "a")
    }

    @Test func highestKnownSeqIgnoresDeadMembers() {
        var a = node("a", appliedSeq: 10)
        a.merge([info("gone", appliedSeq: 500)], now: t0)
        a.merge([info("b", appliedSeq: 40), info("c", appliedSeq: 25)], now: at(3_000))
        #expect(a.highestKnownSeq == 500)
        _ = a.evaluate(now: at(5_000))  // "gone" dead, b and c suspect
        #expect(a.member(id: "b")?.status == .suspect)
        #expect(a.highestKnownSeq == 40)
        _ = a.evaluate(now: at(9_000))  // everyone else dead
        #expect(a.highestKnownSeq == 10)
    }

    @Test func pullSourcePicksOnlyMembersAheadOfUsAndPrefersOurRegion() {
        var rng = SeededRNG(seed: 5)
        var a = node("a", region: "r1", appliedSeq: 100)
        a.merge(
            [
                info("behind", region: "r1", appliedSeq: 90),
                info("level", region: "r1", appliedSeq: 100),
                info("far-1", region: "r2", appliedSeq: 300),
                info("far-2", region: "r2", appliedSeq: 200),
            ],
            now: t0
        )
        var picked = Set<String>()
        for _ in 0..<50 { picked.insert(a.pullSource(using: &rng)?.id ?? "none") }
        #expect(picked == ["far-1", "far-2"])

        a.merge([info("near-1", region: "r1", appliedSeq: 101), info("near-2", region: "r1", appliedSeq: 150)], now: t0)
        picked = []
        for _ in 0..<50 { picked.insert(a.pullSource(using: &rng)?.id ?? "none") }
        #expect(picked == ["near-1", "near-2"])

        // Only alive members are pulled from; nobody ahead means nil.
        a.merge([info("far-1", region: "r2", heartbeat: 2, appliedSeq: 300)], now: at(1_600))
        _ = a.evaluate(now: at(1_600))
        #expect(a.pullSource(using: &rng)?.id == "far-1")
        a.updateSelf(appliedSeq: 300, leaderEpoch: 0, isLeader: false)
        #expect(a.pullSource(using: &rng) == nil)
    }

    @Test func pushTargetsExcludeOurselvesAndExcludedIdsAndRespectFanout() {
        var rng = SeededRNG(seed: 6)
        var a = node("a")
        a.merge((1...8).map { info("p\($0)") } + [info("a", heartbeat: 99)], now: t0)
        a.merge([info("p1", heartbeat: 2), info("p2", heartbeat: 2)], now: at(1_600))
        _ = a.evaluate(now: at(1_600))  // p3...p8 suspect: not pushed to

        for _ in 0..<20 {
            let targets = a.pushTargets(excluding: ["p1"], using: &rng)
            #expect(targets.map(\.id) == ["p2"])
        }
        var seen = Set<String>()
        a.merge((3...8).map { info("p\($0)", heartbeat: 2) }, now: at(1_600))
        for _ in 0..<50 {
            let targets = a.pushTargets(excluding: ["p1", "p2"], using: &rng)
            #expect(targets.count == timing.fanout)
            #expect(Set(targets.map(\.id)).count == targets.count)
            seen.formUnion(targets.map(\.id))
        }
        #expect(seen == ["p3", "p4", "p5", "p6", "p7", "p8"])
    }

    @Test func gossipTargetsAreLivePeersUpToFanoutAndSometimesADeadOne() {
        var rng = SeededRNG(seed: 7)
        var a = node("a")
        a.merge([info("dead")], now: t0)
        a.merge((1...5).map { info("p\($0)") }, now: at(6_000))

        var reconnects = 0
        for round in 0..<200 {
            let now = at(6_000 + round)  // live members stay alive
            let targets = a.startRound(now: now, seeds: ["https://seed.test:7000", a.me.peerURL], using: &rng)
            #expect(targets.count == timing.fanout)
            #expect(Set(targets.map(\.url)).count == targets.count)
            #expect(!targets.contains { $0.url == a.me.peerURL })
            let extra = targets.filter { $0 == .member(info("dead")) || $0 == .seed("https://seed.test:7000") }
            #expect(extra.count <= 1)
            reconnects += extra.count
        }
        // About 1 round in 4 tries to reach a dead member or an unknown seed.
        #expect((20...80).contains(reconnects))
    }

    // MARK: Hostile input

    @Test func garbageDigestsAreIgnoredAndBounded() {
        var a = node("a")
        let long = String(repeating: "x", count: 10_000)
        var huge = info("huge")
        huge.publicURL = long
        var longID = info("b")
        longID.id = String(repeating: "é", count: 200)  // 400 UTF-8 bytes
        let garbage = [
            info(""), huge, longID, info("neg-seq", appliedSeq: -1), info("neg-epoch", leaderEpoch: -5),
            info("ok", heartbeat: .max, appliedSeq: .max, leaderEpoch: .max, incarnation: .max),
        ]
        let changes = a.merge(garbage, now: t0)
        #expect(changes.map(\.id) == ["ok"])
        #expect(a.members.map(\.info.id) == ["a", "ok"])

        // 10,000 entries: only the first 1,000 are read, and the table stays within one digest.
        let flood = (0..<10_000).map { info("f\($0)") }
        a.merge(flood, now: t0)
        #expect(a.members.count == Membership.maxDigestEntries)
        #expect(a.digest().count == Membership.maxDigestEntries)
        #expect(a.member(id: "f9999") == nil)

        // Extreme counters and instants far apart do not trap.
        var rng = SeededRNG(seed: 8)
        _ = a.startRound(now: at(1_000_000_000), seeds: [], using: &rng)
        #expect(a.members.map(\.info.id) == ["a"])
        var maxed = Membership(me: info("m", heartbeat: .max), timing: timing, now: t0)
        _ = maxed.startRound(now: at(200), seeds: [], using: &rng)
        #expect(maxed.me.heartbeat == .max)
    }

    @Test func digestSurvivesJSONRoundTrip() throws {
        var a = node("a")
        a.merge([info("b", appliedSeq: 7, leaderEpoch: 2, isLeader: true, incarnation: 1_700_000_000_000)], now: t0)
        let decoded = try JSONDecoder().decode([MemberInfo].self, from: JSONEncoder().encode(a.digest()))
        #expect(decoded == a.digest())
    }

    // MARK: Convergence

    @Test func threeNodesGossipingInRoundsConvergeWithinAFewRounds() {
        var rng = SeededRNG(seed: 9)
        let seedURL = "https://n1.test:7000"
        var nodes = [node("n1"), node("n2", region: "r2"), node("n3", region: "r3")]
        nodes[0].updateSelf(appliedSeq: 12, leaderEpoch: 4, isLeader: true)
        nodes[2].updateSelf(appliedSeq: 9, leaderEpoch: 0, isLeader: false)
        let index = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($1.me.peerURL, $0) })

        var converged: Int?
        for round in 1...6 {
            let now = at(round * 200)
            for i in nodes.indices {
                let targets = nodes[i].startRound(now: now, seeds: [seedURL], using: &rng)
                for target in targets {
                    guard let j = index[target.url] else { continue }
                    nodes[j].merge(nodes[i].digest(), now: now)  // request
                    nodes[i].merge(nodes[j].digest(), now: now)  // response
                }
            }
            let views = nodes.map { $0.members.map(\.info.id) }
            if views.allSatisfy({ $0 == ["n1", "n2", "n3"] }) {
                converged = round
                break
            }
        }
        #expect((converged ?? .max) <= 3)
        for n in nodes {
            #expect(n.members.allSatisfy { $0.status == .alive })
            #expect(n.leader?.id == "n1")
            #expect(n.highestKnownSeq == 12)
        }
    }
}
