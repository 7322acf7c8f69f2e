import Core
import Foundation
import Logging
import Hummingbird
import NIOCore
import NodeServices

extension APIServer {
    /// `/api/v1/nodes` (admins): revoked nodes and node revocation. Writes go to the leader.
    func nodeRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.group().add(middleware: authenticate(.admin))
            .get("/revoked", use: listRevokedNodes)
        routes.group().add(middleware: authenticate(.admin, write: true))
            .post("/{id}/revoke", use: revokeNode)
        return routes
    }

    struct RevokeNodeRequest: Decodable { var reason: String? }
    struct NodeStatus: Encodable {
        var id: String
        var revoked: Bool
        var changed: Bool
    }
    struct RevokedNodes: Encodable { var revoked_nodes: [String] }

    /// `GET /api/v1/nodes/revoked`: the ids of revoked nodes, as this node has applied them.
    @Sendable func listRevokedNodes(_ request: Request, context: SMARequestContext) async throws -> Response {
        try json(RevokedNodes(revoked_nodes: state.revokedNodeIDs.sorted()), seq: state.applied)
    }

    /// `POST /api/v1/nodes/{id}/revoke` `{"reason"?}`: every peer refuses the node's certificate once the entry
    /// reaches it; `changed: false` when it was already revoked.
    @Sendable func revokeNode(_ request: Request, context: SMARequestContext) async throws -> Response {
        let principal = try context.authenticatedPrincipal()
        let id = try context.parameters.require("id")
        let bytes = try await request.collectBody(upTo: config.maxBodyBytes, context: context)
        guard let writer = localWriter() else { return try await forwardToLeader(request, body: bytes, context: context) }
        let reason = bytes.readableBytes == 0 ? nil : try Self.decode(RevokeNodeRequest.self, from: bytes).reason
        let seq = try await NodeRevocationService(state: writer.state, writer: writer.writer)
            .revoke(id: id, reason: reason ?? "unspecified", actor: auditActor(principal, context))
        context.logger.notice("node revoked", metadata: ["node.revoked": "\(id)", "api_key.name": "\(principal.name)",
                                                        "log.seq": "\(seq.map(String.init) ?? "unchanged")"])
        return try json(NodeStatus(id: id, revoked: true, changed: seq != nil), seq: seq ?? state.applied)
    }
}
