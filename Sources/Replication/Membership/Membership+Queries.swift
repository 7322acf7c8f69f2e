extension Membership {
    /// The leader as the cluster sees it: among alive/suspect members (ourselves included) claiming the lease, the highest `leaderEpoch`; nil if none.
    ///
    /// Equal epochs (which a correct lease never produces) resolve to the smaller id, deterministically.
    public var leader: MemberInfo? {
        let claimants = [me].filter(\.isLeader) + sortedOthers { $0.status != .dead && $0.info.isLeader }.map(\.info)
        return claimants.max { a, b in
            a.leaderEpoch != b.leaderEpoch ? a.leaderEpoch < b.leaderEpoch : a.id > b.id
        }
    }

    /// The highest `appliedSeq` any alive or suspect member reports (ourselves included).
    public var highestKnownSeq: Int64 {
        others.values.reduce(me.appliedSeq) { best, member in
            member.status == .dead ? best : max(best, member.info.appliedSeq)
        }
    }

    /// A random alive member (not us) whose `appliedSeq` is greater than ours, for anti-entropy pulls; prefers our region. Nil if nobody is ahead.
    public func pullSource(using rng: inout some RandomNumberGenerator) -> MemberInfo? {
        pullSource(after: me.appliedSeq, using: &rng)
    }

    /// A random alive member (not us) whose `appliedSeq` is greater than `seq`; prefers our region. Nil if nobody is.
    public func pullSource(after seq: Int64, using rng: inout some RandomNumberGenerator) -> MemberInfo? {
        let ahead = sortedOthers { $0.status == .alive && $0.info.appliedSeq > seq }
        let sameRegion = ahead.filter { $0.info.region == me.region }
        return (sameRegion.isEmpty ? ahead : sameRegion).randomElement(using: &rng)?.info
    }

    /// Peers to push new log entries to: up to `fanout` random alive members, never us nor anyone in `excluding` (ids).
    public func pushTargets(excluding: Set<String>, using rng: inout some RandomNumberGenerator) -> [MemberInfo] {
        let candidates = sortedOthers { $0.status == .alive && !excluding.contains($0.info.id) }
        return candidates.shuffled(using: &rng).prefix(fanout).map(\.info)
    }
}
