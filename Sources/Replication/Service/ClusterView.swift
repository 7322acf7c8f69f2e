import Core
import NodeServices
import Foundation
import Logging
import Synchronization

/// This node's view of the cluster: the gossiped `Membership` behind a lock, with its RNG.
package final class ClusterView: Sendable {
    private struct State {
        var membership: Membership
        var rng = SystemRandomNumberGenerator()
    }

    private let state: Mutex<State>
    package let seeds: [String]
    /// Checks others' records and signs ours; nil only in tests of the bare table.
    package let authenticator: MemberAuthenticator?

    package init(me: MemberInfo, timing: MembershipTiming, seeds: [String], authenticator: MemberAuthenticator?) {
        state = Mutex(State(membership: Membership(me: me, timing: timing, now: .now)))
        self.seeds = seeds
        self.authenticator = authenticator
    }

    package var me: MemberInfo { state.withLock { $0.membership.me } }
    package var timing: MembershipTiming { state.withLock { $0.membership.timing } }

    package func updateSelf(appliedSeq: Int64, leaderEpoch: Int64, isLeader: Bool) {
        state.withLock { $0.membership.updateSelf(appliedSeq: appliedSeq, leaderEpoch: leaderEpoch, isLeader: isLeader) }
    }

    /// Starts a gossip round: returns the URLs to gossip with (never our own peer URL).
    package func startRound() -> [String] {
        state.withLock { s in
            let me = s.membership.me.peerURL
            return s.membership.startRound(now: .now, seeds: seeds, using: &s.rng).map(\.url).filter { $0 != me }
        }
    }

    /// Merges a peer's digest; records that are not authentic (`MemberAuthenticator`) are ignored.
    @discardableResult
    package func merge(_ digest: [MemberInfo]) -> [MembershipChange] {
        let authenticator = self.authenticator
        return state.withLock { $0.membership.merge(digest, now: .now, authentic: { authenticator?.accepts($0) ?? true }) }
    }

    /// Drops revoked nodes from the table for good; returns the ids that were members.
    package func expel(_ ids: Set<String>) -> [String] {
        state.withLock { s in ids.sorted().filter { s.membership.expel($0, now: .now) } }
    }

    package func evaluate() -> [MembershipChange] { state.withLock { $0.membership.evaluate(now: .now) } }
    /// Our view to send: our own record signed, then the others' records as their nodes signed them.
    package func digest() -> [MemberInfo] {
        var records = state.withLock { $0.membership.digest() }
        if let authenticator, !records.isEmpty { records[0] = authenticator.signed(records[0]) }
        return records
    }
    package var members: [Member] { state.withLock { $0.membership.members } }
    /// Whether `id` is in the member table (alive, suspect or dead; not dropped).
    package func isMember(_ id: String) -> Bool { state.withLock { $0.membership.member(id: id) != nil } }
    package var leader: MemberInfo? { state.withLock { $0.membership.leader } }
    package var highestKnownSeq: Int64 { state.withLock { $0.membership.highestKnownSeq } }
    package func pullSource() -> MemberInfo? { state.withLock { s in s.membership.pullSource(using: &s.rng) } }
    /// A random alive peer whose applied seq is above `seq` (prefers our region).
    package func pullSource(after seq: Int64) -> MemberInfo? { state.withLock { s in s.membership.pullSource(after: seq, using: &s.rng) } }
    package func pushTargets(excluding: Set<String>) -> [MemberInfo] { state.withLock { s in s.membership.pushTargets(excluding: excluding, using: &s.rng) } }
}
