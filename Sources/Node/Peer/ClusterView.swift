import Core
import Foundation
import Replication
import Synchronization

/// This node's view of the cluster: the gossiped `Membership` behind a lock, with its RNG.
final class ClusterView: Sendable {
    private struct State {
        var membership: Membership
        var rng = SystemRandomNumberGenerator()
    }

    private let state: Mutex<State>
    let seeds: [String]

    init(me: MemberInfo, timing: MembershipTiming, seeds: [String]) {
        state = Mutex(State(membership: Membership(me: me, timing: timing, now: .now)))
        self.seeds = seeds
    }

    var me: MemberInfo { state.withLock { $0.membership.me } }
    var timing: MembershipTiming { state.withLock { $0.membership.timing } }

    func updateSelf(appliedSeq: Int64, leaderEpoch: Int64, isLeader: Bool) {
        state.withLock { $0.membership.updateSelf(appliedSeq: appliedSeq, leaderEpoch: leaderEpoch, isLeader: isLeader) }
    }

    /// Starts a gossip round: returns the URLs to gossip with (never our own peer URL).
    func startRound() -> [String] {
        state.withLock { s in
            let me = s.membership.me.peerURL
            return s.membership.startRound(now: .now, seeds: seeds, using: &s.rng).map(\.url).filter { $0 != me }
        }
    }

    @discardableResult
    func merge(_ digest: [MemberInfo]) -> [MembershipChange] {
        state.withLock { $0.membership.merge(digest, now: .now) }
    }

    func evaluate() -> [MembershipChange] { state.withLock { $0.membership.evaluate(now: .now) } }
    func digest() -> [MemberInfo] { state.withLock { $0.membership.digest() } }
    var members: [Member] { state.withLock { $0.membership.members } }
    var leader: MemberInfo? { state.withLock { $0.membership.leader } }
    var highestKnownSeq: Int64 { state.withLock { $0.membership.highestKnownSeq } }
    func pullSource() -> MemberInfo? { state.withLock { s in s.membership.pullSource(using: &s.rng) } }
    func pushTargets(excluding: Set<String>) -> [MemberInfo] { state.withLock { s in s.membership.pushTargets(excluding: excluding, using: &s.rng) } }
}
