import Core
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import NIOSSL
import Replication
import SMAPostgres
import SwiftASN1
import X509

/// The peer listener's own routes (mutual TLS only; the handshake already verified the caller's
/// certificate against the cluster CA). The peer listener also serves the public routes, so a
/// write forwarded by another node is handled exactly like a local one.
struct PeerRoutes: Sendable {
    let config: NodeConfiguration
    let state: NodeState
    let pool: PostgresPool
    let view: ClusterView
    let replicator: Replicator

    func add(to router: Router<SMARequestContext>) {
        router.get("/peer/v1/log", use: log)
        router.post("/peer/v1/log", use: push)
        router.post("/peer/v1/gossip", use: gossip)
        router.get("/peer/v1/status", use: status)
    }

    /// This node's applied seq, lag and validation series, for other nodes' status pages.
    @Sendable func status(_ request: Request, context: SMARequestContext) async throws -> Response {
        try Self.json(Self.ownStatus(config: config, state: state, view: view))
    }

    static func ownStatus(config: NodeConfiguration, state: NodeState, view: ClusterView?) -> PeerStatus {
        let applied = state.applied
        let lag = state.metrics.updateLag(applied: applied, highestKnown: max(applied, view?.highestKnownSeq ?? applied))
        return PeerStatus(node_id: config.nodeID, applied_seq: applied, lag_entries: lag.entries, lag_seconds: lag.seconds,
                          validations: state.metrics.validationSeries())
    }

    /// The calling node's id, from its verified certificate.
    static func peerID(_ context: SMARequestContext) async -> String {
        guard let channel = context.channel,
              let cert = try? await channel.nioSSL_peerCertificate().get(),
              let parsed = try? Certificate(derEncoded: cert.toDERBytes()) else { return "unknown" }
        return ClusterPKI.commonName(of: parsed) ?? "unknown"
    }

    @Sendable func log(_ request: Request, context: SMARequestContext) async throws -> Response {
        let q = request.uri.queryParameters
        guard let after = q.get("after", as: Int64.self), after >= 0 else { throw InputError(field: "after", "must be a non-negative integer") }
        let limit = min(max(q.get("limit", as: Int.self) ?? 1000, 1), 5000)
        let head = state.applied
        let entries = try await pool.withConnection { c in try Store.entries(c, after: after, limit: limit) }
        return try Self.json(LogBatch(entries: entries.map(WireLogEntry.init), head: head))
    }

    @Sendable func push(_ request: Request, context: SMARequestContext) async throws -> Response {
        let batch = try APIServer.decode(LogBatch.self, from: try await request.body.collect(upTo: 64 << 20))
        let peer = await Self.peerID(context)
        let outcome = try await replicator.receive(batch.entries, from: peer)
        return try Self.json(PushAnswer(applied: outcome.applied, head: outcome.head))
    }

    @Sendable func gossip(_ request: Request, context: SMARequestContext) async throws -> Response {
        let envelope = try APIServer.decode(GossipEnvelope.self, from: try await request.body.collect(upTo: 4 << 20))
        view.merge(envelope.members)
        let abuse = state.abuse.exchange(envelope.abuse ?? [])
        return try Self.json(GossipEnvelope(from: config.nodeID, members: view.digest(), abuse: abuse))
    }

    static func json<T: Encodable>(_ value: T) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(value))))
    }
}
