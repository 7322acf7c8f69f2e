import Core
package import NodeServices

/// The logic behind the peer routes (`/peer/v1/*`), apart from HTTP: log pages for anti-entropy, pushed entries
/// (verified, then applied in seq order), gossip exchanges (membership digest and abuse reports), this node's status.
/// The API target binds it to routes; inputs arrive decoded and bounded.
package struct PeerEndpoint: Sendable {
    package let config: NodeConfiguration
    package let state: NodeState
    package let log: any LogStore
    package let view: ClusterView
    package let replicator: Replicator

    package init(config: NodeConfiguration, state: NodeState, log: any LogStore, view: ClusterView, replicator: Replicator) {
        self.config = config
        self.state = state
        self.log = log
        self.view = view
        self.replicator = replicator
    }

    /// Most entries one log page carries.
    package static let maxPage = 5000

    /// Entries after `after` (at most `limit`, clamped to 1...5000) and this node's applied seq.
    package func logPage(after: Int64, limit: Int) async throws -> LogBatch {
        let head = state.applied
        let entries = try await log.entries(after: after, limit: min(max(limit, 1), Self.maxPage))
        return LogBatch(entries: entries.map(WireLogEntry.init), head: head)
    }

    /// Entries pushed by `peer`: verified and applied (a forged or conflicting one is refused and reported).
    package func receive(_ batch: LogBatch, from peer: String) async throws -> PushAnswer {
        state.leaderContact.observeDirect(from: peer, head: batch.head, applied: state.applied)
        let outcome = try await replicator.receive(batch.entries, from: peer)
        state.leaderContact.resolve(applied: state.applied)
        return PushAnswer(applied: outcome.applied, head: outcome.head)
    }

    /// One gossip exchange: merge the caller's digest and its own abuse report; answer with our digest.
    ///
    /// `peer` is the caller's node id from its verified certificate (nil if the connection did not authenticate
    /// one). Abuse reports are taken first-hand only: a report about node X only from X's own connection, and
    /// only if X is a member (see `AbuseLedger`). The answer carries no abuse reports: the caller could not tell
    /// who made them, so it gets ours when we gossip to it.
    package func gossip(_ envelope: GossipEnvelope, from peer: String?) -> GossipEnvelope {
        view.merge(envelope.members)
        if let reports = envelope.abuse, !reports.isEmpty {
            let outcome = state.abuse.receive(reports, from: peer, reporterIsMember: peer.map(view.isMember) ?? false)
            state.metrics.abuseReportsRefused(outcome.refused.count)
        }
        return GossipEnvelope(from: config.nodeID, members: view.digest(), abuse: state.abuse.enabled ? [] : nil)
    }

    /// This node's applied seq, lag and validation series, for other nodes' status pages.
    package func status() -> PeerStatus {
        Self.ownStatus(config: config, state: state, view: view)
    }

    package static func ownStatus(config: NodeConfiguration, state: NodeState, view: ClusterView?) -> PeerStatus {
        let applied = state.applied
        let lag = state.metrics.updateLag(applied: applied, highestKnown: max(applied, view?.highestKnownSeq ?? applied))
        return PeerStatus(node_id: config.nodeID, applied_seq: applied, lag_entries: lag.entries, lag_seconds: lag.seconds,
                          validations: state.metrics.validationSeries())
    }
}
