import Core
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOSSL
import NodeServices
import Prometheus
package import Replication
import SwiftASN1
import X509

/// The peer listener's replication routes (`/peer/v1/*`, mutual TLS only: the handshake already verified the
/// caller's certificate against the cluster CA). Thin HTTP bindings of `PeerEndpoint`: bodies are bounded and
/// decoded here, so malformed input is the caller's error (4xx), never a 500.
package struct PeerRoutes: Sendable {
    package let endpoint: PeerEndpoint

    /// At most four pushed batches read and decoded at once.
    let largeBodies = LargeBodyGate(limit: 4)

    package init(endpoint: PeerEndpoint) { self.endpoint = endpoint }

    /// Largest pushed log batch and gossip envelope accepted.
    static let maxPushBytes = 16 << 20
    static let maxGossipBytes = 4 << 20

    func routes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.get("/log", use: log)
        routes.post("/log", use: push)
        routes.post("/gossip", use: gossip)
        routes.get("/status", use: status)
        return routes
    }

    @Sendable func status(_ request: Request, context: SMARequestContext) async throws -> Response {
        try Self.json(endpoint.status())
    }

    @Sendable func log(_ request: Request, context: SMARequestContext) async throws -> Response {
        let q = request.uri.queryParameters
        guard let after = q.get("after", as: Int64.self), after >= 0 else { throw InputError(field: "after", "must be a non-negative integer") }
        var limit = 1000
        if let raw = q.get("limit") {
            guard let l = Int(raw), l >= 1 else { throw InputError(field: "limit", "must be a positive integer") }
            limit = l
        }
        return try Self.json(try await endpoint.logPage(after: after, limit: limit))
    }

    @Sendable func push(_ request: Request, context: SMARequestContext) async throws -> Response {
        let batch = try await largeBodies.admit {
            try APIServer.decode(LogBatch.self, from: try await request.collectBody(upTo: Self.maxPushBytes, context: context))
        }
        return try Self.json(try await endpoint.receive(batch, from: context.peer?.id ?? "unknown"))
    }

    @Sendable func gossip(_ request: Request, context: SMARequestContext) async throws -> Response {
        let envelope = try APIServer.decode(GossipEnvelope.self, from: try await request.collectBody(upTo: Self.maxGossipBytes, context: context))
        return try Self.json(endpoint.gossip(envelope, from: context.peer?.id))
    }

    static func json<T: Encodable>(_ value: T) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try APIServer.encoder.encode(value))))
    }

    /// The calling node's identity (id, role, addresses, key) from its certificate, which the handshake verified.
    static func peerIdentity(_ context: SMARequestContext) async -> PeerIdentity? {
        guard let channel = context.channel,
              let cert = try? await channel.nioSSL_peerCertificate().get(),
              let parsed = try? Certificate(derEncoded: cert.toDERBytes()) else { return nil }
        return ClusterPKI.identity(of: parsed)
    }
}

/// First on the peer listener: puts the calling node's identity (from its certificate) in the request context,
/// and refuses a revoked node (`node_revoked`), or a certificate that names no node, with 403 on every route.
struct PeerIdentityMiddleware: RouterMiddleware {
    typealias Context = SMARequestContext
    let state: NodeState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let peer = await PeerRoutes.peerIdentity(context) else {
            throw APIError(.forbidden, code: "unknown_peer", "the client certificate names no cluster node")
        }
        guard !state.isNodeRevoked(peer.id) else {
            state.metrics.peerRequestsRefused.increment()
            throw APIError(.forbidden, code: "node_revoked", "node \(peer.id) is revoked; its certificate is refused")
        }
        var context = context
        context.peer = peer
        return try await next(request, context)
    }
}
