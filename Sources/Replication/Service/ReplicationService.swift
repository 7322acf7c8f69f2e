import Core
package import NodeServices
import Foundation
package import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// The node's replication loop: gossip membership every round, pull what it misses from a peer
/// that is ahead (anti-entropy, in batches), and push new entries to a few peers at once.
package struct ReplicationService: Service {
    package let view: ClusterView
    package let client: PeerClient
    package let replicator: Replicator
    package let pushes: PushQueue
    package let state: NodeState
    package let leadership: Leadership
    package let config: NodeConfiguration
    package let logger: Logger

    package init(view: ClusterView, client: PeerClient, replicator: Replicator, pushes: PushQueue, state: NodeState, leadership: Leadership, config: NodeConfiguration, logger: Logger) {
        self.view = view
        self.client = client
        self.replicator = replicator
        self.pushes = pushes
        self.state = state
        self.leadership = leadership
        self.config = config
        self.logger = logger
    }
    package let startedAt = ContinuousClock.now
    package static let pullBatch = 2000

    package func run() async throws {
        state.leaderContact.startTracking()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await gossipLoop() }
                group.addTask { await pullLoop() }
                group.addTask { await pushLoop() }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            pushes.finish()
        }
    }

    private func gossipLoop() async {
        var everReached = false
        await repeatUntilShutdown {
            let reached = await round()
            everReached = everReached || reached
            updateReadiness(everReached: everReached)
            return view.timing.gossipInterval
        }
    }

    /// Anti-entropy on its own loop, so a long catch-up never stalls this node's heartbeat.
    private func pullLoop() async {
        await repeatUntilShutdown {
            await pullIfBehind()
            return view.timing.gossipInterval
        }
    }

    /// One gossip round. Returns whether any peer answered.
    @discardableResult
    package func round() async -> Bool {
        refreshSelf()
        for id in view.expel(state.revokedNodeIDs) {
            logger.notice("revoked node expelled from the member table", metadata: ["replication.peer": "\(id)"])
        }
        for change in view.evaluate() {
            logger.notice("member status changed", metadata: ["replication.peer": "\(change.id)", "member.status": "\(change.to.rawValue)"])
        }
        state.metrics.gossipRounds.increment()
        let targets = view.startRound()
        let envelope = GossipEnvelope(from: config.nodeID, members: view.digest(), abuse: state.abuse.enabled ? state.abuse.gossipReports() : nil)
        let answered = await withTaskGroup(of: Bool.self) { group -> Bool in
            for url in targets {
                group.addTask {
                    do {
                        let answer = try await client.gossip(url, envelope)
                        // answer.abuse is not read: reports are taken only first-hand, from the reporter's own
                        // authenticated connection (PeerEndpoint.gossip), and we cannot tell who made these.
                        for change in view.merge(answer.members) {
                            if change.from == nil {
                                logger.info("member joined", metadata: ["replication.peer": "\(change.id)"])
                            } else {
                                logger.notice("member status changed", metadata: ["replication.peer": "\(change.id)", "member.status": "\(change.to.rawValue)"])
                            }
                        }
                        return true
                    } catch {
                        state.metrics.gossipFailures.increment()
                        logger.debug("gossip failed", metadata: ["replication.peer": "\(url)", "error": "\(error)"])
                        return false
                    }
                }
            }
            var any = false
            for await ok in group { any = any || ok }
            return any
        }
        state.metrics.noteLeader(leadership.fence != nil ? config.nodeID : view.leader?.id)
        state.metrics.updateLag(applied: state.applied, highestKnown: view.highestKnownSeq)
        noteLeaderContact()
        return answered
    }

    /// Feeds the leader's member record to the staleness clock (`LeaderContact`) and publishes the knowledge age.
    private func noteLeaderContact() {
        let contact = state.leaderContact
        contact.setLeading(leadership.fence != nil)
        if let leader = view.leader, leader.id != config.nodeID {
            contact.observeRecord(leader: leader.id, incarnation: leader.incarnation, heartbeat: leader.heartbeat,
                                  appliedSeq: leader.appliedSeq, applied: state.applied)
        } else {
            contact.resolve(applied: state.applied)
        }
        let age = contact.age().components
        state.metrics.leaderContactAge.set(Double(age.seconds) + Double(age.attoseconds) / 1e18)
    }

    /// Our own record: the seq gossiped is the one we can serve to peers (our database's head while it is behind memory).
    private func refreshSelf() {
        let fence = leadership.fence
        view.updateSelf(appliedSeq: replicator.servableSeq, leaderEpoch: fence?.epoch ?? 0, isLeader: fence != nil)
    }

    /// Anti-entropy: pull from a peer that is ahead, batch after batch, until caught up with it.
    /// Pipelined: the next batch is fetched and verified while the current one is written.
    ///
    /// When this node's database fell behind memory (it was unavailable while memory took entries), the pull starts
    /// from the database's head instead, so the database is refilled; not while its writes keep failing (for 2 s after
    /// a failure), when memory alone is caught up.
    package func pullIfBehind() async {
        let storeHead = replicator.storeHeadBehindMemory
        let refill = storeHead != nil && !replicator.storeFailedRecently(within: .seconds(2))
        let from = refill ? storeHead! : state.applied
        guard let source = view.pullSource(after: from) else { return }
        let limit = Self.pullBatch
        let clock = ContinuousClock()
        let contact = state.leaderContact
        @Sendable func fetch(after: Int64) async throws -> (Replicator.Verified, Int64?, Bool, Duration, Duration) {
            let t0 = clock.now
            let batch = try await client.pull(source.peerURL, after: after, limit: limit)
            contact.observeDirect(from: source.id, head: batch.head, applied: state.applied)
            let t1 = clock.now
            let last = batch.entries.map(\.seq).max()
            let verified = try await replicator.verify(batch.entries, from: source.id)
            return (verified, last, batch.entries.count == limit, t0.duration(to: t1), t1.duration(to: clock.now))
        }
        let start = clock.now, first = state.applied
        var fetching = Duration.zero, verifying = Duration.zero, applying = Duration.zero
        do {
            var current = try await fetch(after: from)
            while let last = current.1, !Task.isCancelled {
                fetching += current.3
                verifying += current.4
                let more = current.2 && current.0.refused == 0
                async let next = more ? fetch(after: last) : (Replicator.Verified(items: [], refused: 0, peer: source.id), nil, false, .zero, .zero)
                let t = clock.now
                let outcome = try await replicator.apply(current.0, repush: false)
                applying += t.duration(to: clock.now)
                refreshSelf()
                contact.resolve(applied: state.applied)
                // A refill stops when the database fails again (memory is caught up by the next round's pull).
                if outcome.refused > 0 || outcome.head < last || (refill && !outcome.stored) { _ = try? await next; break }
                current = try await next
            }
            let pulled = state.applied - first
            if pulled >= Int64(limit) {
                logger.notice("caught up from a peer", metadata: [
                    "replication.peer": "\(source.id)", "entries": "\(pulled)", "seconds": "\(seconds(start.duration(to: clock.now)))",
                    "fetch_seconds": "\(seconds(fetching))", "verify_seconds": "\(seconds(verifying))", "apply_seconds": "\(seconds(applying))"])
            }
        } catch {
            state.metrics.pullFailures.increment()
            logger.debug("pull failed", metadata: ["replication.peer": "\(source.id)", "error": "\(error)"])
        }
    }

    /// Pushes each new batch to a few peers without waiting for the slowest: a peer that does not answer (down or
    /// cut off) holds only its own transfer, and while one is in flight to a peer that peer is not chosen again —
    /// it catches up by pulling (anti-entropy) instead of delaying everyone else's pushes.
    private func pushLoop() async {
        let busy = BusyPeers()
        await withDiscardingTaskGroup { group in
            for await item in pushes.stream {
                let batch = LogBatch(entries: item.entries.map(WireLogEntry.init), head: state.applied)
                for t in view.pushTargets(excluding: item.except.union(busy.ids)) where busy.claim(t.id) {
                    group.addTask {
                        defer { busy.release(t.id) }
                        do { _ = try await client.push(t.peerURL, batch) } catch {
                            state.metrics.pushFailures.increment()
                            logger.debug("push failed", metadata: ["replication.peer": "\(t.id)", "error": "\(error)"])
                        }
                    }
                }
            }
        }
    }

    /// Ready once caught up with what peers report; a node that reaches nobody serves what it loaded
    /// after `isolated_ready_after_seconds` (stale but available), unless it has nothing at all.
    private func updateReadiness(everReached: Bool) {
        guard !state.isReady else { return }
        let caughtUp = state.applied >= view.highestKnownSeq
        let waited = startedAt.duration(to: .now) > .milliseconds(Int64(config.isolatedReadyAfterSeconds * 1000))
        if (everReached && caughtUp && state.applied > 0) || (!everReached && waited && state.applied > 0) {
            state.markReady()
            logger.notice("ready", metadata: ["log.seq": "\(state.applied)", "replication.isolated": "\(!everReached)"])
        }
    }
}

/// Peers with a push in flight.
package final class BusyPeers: Sendable {
    private let peers = Mutex(Set<String>())
    package var ids: Set<String> { peers.withLock { $0 } }
    /// Marks `id` busy; false when it already was.
    package func claim(_ id: String) -> Bool { peers.withLock { $0.insert(id).inserted } }
    package func release(_ id: String) { _ = peers.withLock { $0.remove(id) } }
}
