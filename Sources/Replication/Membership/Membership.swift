/// The gossiped member table: a pure state machine (no I/O, no clock reads, randomness only from the caller's generator).
///
/// Merge rule: for each id keep the entry with the higher `(incarnation, heartbeat)`; a newer entry
/// marks the member alive and sets `lastAdvanced = now`. Our own entry is never overwritten by
/// others' views. Status is judged by the age of `lastAdvanced`: suspect after
/// `timing.suspectAfter`, dead after `timing.deadAfter`; members dead for longer than
/// `10 × deadAfter` are dropped, and a tombstone keeps stale gossip from resurrecting them.
///
/// Peer input never traps: digests are truncated to `maxDigestEntries`, entries with an empty id,
/// fields longer than `maxFieldLength` UTF-8 bytes or negative seq/epoch are ignored, and the
/// table holds at most `maxDigestEntries` members (ourselves included), so our digest always fits.
///
/// A member first learned from someone else's digest starts alive (we cannot know better), even
/// if the cluster already considers it dead; it then ages out like any other member.
public struct Membership: Sendable {
    /// At most this many entries are read from one digest; the rest are ignored.
    public static let maxDigestEntries = 1000
    /// Entries whose id, region, role or URLs are longer than this many UTF-8 bytes are ignored.
    public static let maxFieldLength = 256
    /// Entries whose certificate (base64) is longer than this are ignored.
    public static let maxCertificateLength = 4096
    /// Each round, with probability 1 in this many, one target slot goes to a dead member or an unknown seed, so healed partitions rejoin.
    public static let reconnectOneIn: UInt64 = 4

    /// A dropped member's last version, so stale gossip of it is not taken for news.
    struct Tombstone: Sendable {
        var incarnation: UInt64
        var heartbeat: UInt64
        var droppedAt: ContinuousClock.Instant
    }

    /// When members become suspect and dead, and how many peers a round contacts.
    public let timing: MembershipTiming
    /// Our own entry, as we gossip it.
    public private(set) var me: MemberInfo
    /// When our own heartbeat last advanced (init or the last `startRound`).
    private var myLastAdvanced: ContinuousClock.Instant
    /// Everyone but us, by id.
    private(set) var others: [String: Member] = [:]
    /// Recently dropped members, by id.
    private(set) var tombstones: [String: Tombstone] = [:]
    /// Members expelled for good (revoked nodes): never taken back, whatever version is gossiped.
    private(set) var expelled: Set<String> = []

    /// Creates a table that knows only ourselves.
    public init(me: MemberInfo, timing: MembershipTiming, now: ContinuousClock.Instant) {
        self.me = me
        self.timing = timing
        self.myLastAdvanced = now
    }

    /// The fanout actually used: `timing.fanout`, at least 1.
    var fanout: Int { max(1, timing.fanout) }

    /// How long a dead member stays in the table (`11 × deadAfter` since it last advanced), and how long its tombstone lives after that.
    var retention: Duration { timing.deadAfter * 11 }

    // MARK: Our own entry

    /// Records our progress and leadership; it spreads with the next round's heartbeat.
    public mutating func updateSelf(appliedSeq: Int64, leaderEpoch: Int64, isLeader: Bool) {
        me.appliedSeq = appliedSeq
        me.leaderEpoch = leaderEpoch
        me.isLeader = isLeader
    }

    // MARK: Rounds

    /// Starts a round: increments our heartbeat, re-evaluates statuses at `now`, returns the peers to gossip with this round.
    ///
    /// Up to `fanout` targets, random among alive and suspect others; if there are none, random
    /// among `seeds` (deduplicated). Never ourselves (by id or by peer URL). With probability
    /// 1 in `reconnectOneIn`, one slot goes to a random dead member or a seed that is no live
    /// member's URL, so that both sides of a healed partition find each other again.
    /// Call `evaluate(now:)` first if you want the status changes for logging.
    public mutating func startRound(
        now: ContinuousClock.Instant,
        seeds: [String],
        using rng: inout some RandomNumberGenerator
    ) -> [GossipTarget] {
        if me.heartbeat < .max { me.heartbeat += 1 }
        myLastAdvanced = now
        _ = evaluate(now: now)

        let live = sortedOthers { $0.status != .dead }
        let liveURLs = Set(live.map(\.info.peerURL))
        let usableSeeds = Self.deduplicated(seeds.filter { !$0.isEmpty && $0 != me.peerURL })
        var targets: [GossipTarget]
        if live.isEmpty {
            targets = usableSeeds.shuffled(using: &rng).prefix(fanout).map { .seed($0) }
        } else {
            targets = live.shuffled(using: &rng).prefix(fanout).map { .member($0.info) }
        }

        if rng.next(upperBound: Self.reconnectOneIn) == 0 {
            let chosenURLs = Set(targets.map(\.url))
            let dead = sortedOthers { $0.status == .dead }.map { GossipTarget.member($0.info) }
            let seedsToTry = usableSeeds.filter { !liveURLs.contains($0) }.map { GossipTarget.seed($0) }
            let candidates = Self.deduplicated(dead + seedsToTry, by: \.url).filter { !chosenURLs.contains($0.url) }
            if let extra = candidates.randomElement(using: &rng) {
                if targets.count >= fanout { targets.removeLast() }
                targets.append(extra)
            }
        }
        return targets
    }

    /// Our view to send: our own entry first, then every member's info sorted by id (dead members too, so their death spreads).
    ///
    /// Members dead for longer than `10 × deadAfter` are dropped by `evaluate(now:)` / `startRound`.
    public func digest() -> [MemberInfo] {
        [me] + others.keys.sorted().compactMap { others[$0]?.info }
    }

    /// Merges a peer's digest (received as a request or as a response). Returns the status changes, for logging.
    ///
    /// `authentic` is asked about each entry that would change the table (and only those, so a round costs one
    /// check per news item): the node runtime passes `MemberAuthenticator.accepts`, which checks the node's
    /// certificate and signature; entries it refuses are ignored.
    @discardableResult
    public mutating func merge(_ digest: [MemberInfo], now: ContinuousClock.Instant,
                               authentic: (MemberInfo) -> Bool = { _ in true }) -> [MembershipChange] {
        var changes: [MembershipChange] = []
        for entry in digest.prefix(Self.maxDigestEntries) {
            // Our own entry is ours alone: a higher version from a peer is stale or an impostor.
            guard entry.id != me.id, !expelled.contains(entry.id), Self.isAcceptable(entry) else { continue }
            if var member = others[entry.id] {
                guard entry.isNewer(than: member.info), authentic(entry) else { continue }
                let previous = member.status
                member.info = entry
                member.status = .alive
                member.lastAdvanced = now
                others[entry.id] = member
                if previous != .alive {
                    changes.append(MembershipChange(id: entry.id, from: previous, to: .alive))
                }
            } else {
                if let tombstone = tombstones[entry.id],
                    (entry.incarnation, entry.heartbeat) <= (tombstone.incarnation, tombstone.heartbeat)
                {
                    continue
                }
                guard others.count < Self.maxDigestEntries - 1, authentic(entry) else { continue }
                tombstones[entry.id] = nil
                others[entry.id] = Member(info: entry, status: .alive, lastAdvanced: now)
                changes.append(MembershipChange(id: entry.id, from: nil, to: .alive))
            }
        }
        return changes
    }

    /// Re-judges every member at `now`: alive -> suspect -> dead by `lastAdvanced` age; drops members dead for longer than `10 × deadAfter`.
    ///
    /// A dead member becomes alive again only when `merge` sees its heartbeat advance. Returns
    /// the status changes sorted by id (dropping a member is not reported).
    public mutating func evaluate(now: ContinuousClock.Instant) -> [MembershipChange] {
        var changes: [MembershipChange] = []
        for id in others.keys.sorted() {
            guard var member = others[id] else { continue }
            let age = now - member.lastAdvanced
            let status = status(forAge: age)
            if status != member.status {
                changes.append(MembershipChange(id: id, from: member.status, to: status))
                member.status = status
                others[id] = member
            }
            if status == .dead && age > retention {
                others[id] = nil
                tombstones[id] = Tombstone(
                    incarnation: member.info.incarnation,
                    heartbeat: member.info.heartbeat,
                    droppedAt: now
                )
            }
        }
        tombstones = tombstones.filter { now - $0.value.droppedAt <= retention }
        if tombstones.count > Self.maxDigestEntries {
            let newest = tombstones.sorted { ($0.value.droppedAt, $0.key) > ($1.value.droppedAt, $1.key) }
            tombstones = Dictionary(uniqueKeysWithValues: newest.prefix(Self.maxDigestEntries).map { ($0.key, $0.value) })
        }
        return changes
    }

    /// Forgets member `id` for good (a revoked node): it is dropped and a tombstone at the highest version keeps
    /// any later gossip of it out. Returns whether it was in the table.
    @discardableResult
    public mutating func expel(_ id: String, now: ContinuousClock.Instant) -> Bool {
        guard id != me.id else { return false }
        let known = others.removeValue(forKey: id) != nil
        expelled.insert(id)
        tombstones[id] = nil
        return known
    }

    // MARK: The table

    /// Every member sorted by id, including ourselves (always alive).
    public var members: [Member] {
        let mine = Member(info: me, status: .alive, lastAdvanced: myLastAdvanced)
        return (Array(others.values) + [mine]).sorted { $0.info.id < $1.info.id }
    }

    /// The row for `id` (ourselves included), or nil if unknown.
    public func member(id: String) -> Member? {
        id == me.id ? Member(info: me, status: .alive, lastAdvanced: myLastAdvanced) : others[id]
    }

    /// Others matching `predicate`, sorted by id (so a seeded generator gives repeatable picks); never anyone at our peer URL.
    func sortedOthers(where predicate: (Member) -> Bool) -> [Member] {
        others.values
            .filter { predicate($0) && $0.info.peerURL != me.peerURL }
            .sorted { $0.info.id < $1.info.id }
    }

    /// The status a member deserves when its heartbeat last advanced `age` ago.
    private func status(forAge age: Duration) -> MemberStatus {
        if age >= timing.deadAfter { return .dead }
        if age >= timing.suspectAfter { return .suspect }
        return .alive
    }

    /// Whether a peer-supplied entry is sane enough to keep.
    static func isAcceptable(_ entry: MemberInfo) -> Bool {
        guard !entry.id.isEmpty, entry.appliedSeq >= 0, entry.leaderEpoch >= 0 else { return false }
        return [entry.id, entry.region, entry.role, entry.peerURL, entry.publicURL]
            .allSatisfy { $0.utf8.count <= maxFieldLength }
            && (entry.certificate?.utf8.count ?? 0) <= maxCertificateLength && (entry.signature?.utf8.count ?? 0) <= 256
    }

    /// `items` without repeats of the same key, first occurrence kept, order preserved.
    private static func deduplicated<T, Key: Hashable>(_ items: [T], by key: (T) -> Key) -> [T] {
        var seen = Set<Key>()
        return items.filter { seen.insert(key($0)).inserted }
    }

    /// `items` without repeats, first occurrence kept, order preserved.
    private static func deduplicated(_ items: [String]) -> [String] {
        deduplicated(items, by: { $0 })
    }
}
