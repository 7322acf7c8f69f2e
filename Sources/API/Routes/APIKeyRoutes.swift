import Core
import Foundation
import Logging
import Hummingbird
import NIOCore
import NodeServices

extension APIServer {
    /// `/api/v1/api-keys` (admins): list, create, revoke and rotate API keys. Writes go to the leader; a new key's
    /// secret is in the answer once and nowhere else.
    func apiKeyRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.group().add(middleware: authenticate(.admin))
            .get("", use: listAPIKeys)
        routes.group().add(middleware: authenticate(.admin, write: true))
            .post("", use: createAPIKey)
            .post("/{id}/revoke", use: revokeAPIKey)
            .post("/{id}/rotate", use: rotateAPIKey)
        return routes
    }

    /// The key lifecycle on this node when it leads; nil when the write must go to the leader.
    func localKeys() -> APIKeyService? {
        localWriter().map { APIKeyService(state: $0.state, writer: $0.writer) }
    }

    struct APIKeyList: Encodable { var api_keys: [APIKeyRecord] }
    struct CreateKeyRequest: Decodable {
        var name: String
        var role: String
        var expires_in_seconds: Int?
    }
    struct RotateKeyRequest: Decodable { var grace_seconds: Int? }
    struct KeySecret: Encodable {
        var id: Int64
        var name: String
        var role: String
        /// The key itself: shown in this answer only.
        var key: String
        var expires_at: String?
        var replaces: Int64?
        var replaced_key_valid_until: String?
    }
    struct KeyStatus: Encodable {
        var id: Int64
        var revoked: Bool
        var changed: Bool
    }

    /// `GET /api/v1/api-keys`: every key with its state; never a secret or a hash.
    @Sendable func listAPIKeys(_ request: Request, context: SMARequestContext) async throws -> Response {
        guard config.role == .leaderEligible else { return try await forwardToLeader(request, body: ByteBuffer(), context: context) }
        return try json(APIKeyList(api_keys: try await store.apiKeys()))
    }

    /// `POST /api/v1/api-keys` `{"name", "role", "expires_in_seconds"?}` -> 201 with the key, once.
    @Sendable func createAPIKey(_ request: Request, context: SMARequestContext) async throws -> Response {
        let principal = try context.authenticatedPrincipal()
        let bytes = try await request.collectBody(upTo: config.maxBodyBytes, context: context)
        guard let keys = localKeys() else { return try await forwardToLeader(request, body: bytes, context: context) }
        let body = try Self.decode(CreateKeyRequest.self, from: bytes)
        guard let role = Role(rawValue: body.role) else { throw InputError(field: "role", "must be validator, provisioner or admin") }
        let created = try await keys.create(name: body.name, role: role, expiresInSeconds: body.expires_in_seconds,
                                            actor: auditActor(principal, context))
        context.logger.notice("api key created", metadata: ["api_key.id": "\(created.id)", "api_key.role": "\(role.rawValue)",
                                                           "api_key.name": "\(principal.name)", "log.seq": "\(created.seq)"])
        return try json(KeySecret(id: created.id, name: body.name, role: role.rawValue, key: created.key,
                                  expires_at: created.expiresMillis.map(Self.iso8601(millis:)), replaces: nil, replaced_key_valid_until: nil),
                        status: .created, seq: created.seq)
    }

    /// The `{id}` path parameter: an API key id.
    func keyID(_ context: SMARequestContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")), id > 0 else {
            throw InputError(field: "id", "must be a positive integer (an API key id)")
        }
        return id
    }

    /// `POST /api/v1/api-keys/{id}/revoke`: refused on every node once replicated; 404 once it is no longer valid.
    @Sendable func revokeAPIKey(_ request: Request, context: SMARequestContext) async throws -> Response {
        let principal = try context.authenticatedPrincipal()
        let id = try keyID(context)
        let bytes = try await request.collectBody(upTo: config.maxBodyBytes, context: context)
        guard let keys = localKeys() else { return try await forwardToLeader(request, body: bytes, context: context) }
        let seq = try await keys.revoke(id: id, actor: auditActor(principal, context))
        context.logger.notice("api key revoked", metadata: ["api_key.id": "\(id)", "api_key.name": "\(principal.name)",
                                                           "log.seq": "\(seq.map(String.init) ?? "unchanged")"])
        return try json(KeyStatus(id: id, revoked: true, changed: seq != nil), seq: seq ?? state.applied)
    }

    /// `POST /api/v1/api-keys/{id}/rotate` `{"grace_seconds"?}` (default 0): a new key of the same name and role,
    /// shown once; the old key stays valid for the grace.
    @Sendable func rotateAPIKey(_ request: Request, context: SMARequestContext) async throws -> Response {
        let principal = try context.authenticatedPrincipal()
        let id = try keyID(context)
        let bytes = try await request.collectBody(upTo: config.maxBodyBytes, context: context)
        guard let keys = localKeys() else { return try await forwardToLeader(request, body: bytes, context: context) }
        let grace = bytes.readableBytes == 0 ? nil : try Self.decode(RotateKeyRequest.self, from: bytes).grace_seconds
        guard let old = state.apiKeys.principal(keyID: id) else {
            throw NodeError(.notFound, "no valid API key with this id (unknown, revoked or expired)")
        }
        let (created, until) = try await keys.rotate(id: id, graceSeconds: grace ?? 0, actor: auditActor(principal, context))
        context.logger.notice("api key rotated", metadata: ["api_key.id": "\(id)", "api_key.new_id": "\(created.id)",
                                                           "api_key.name": "\(principal.name)", "log.seq": "\(created.seq)"])
        return try json(KeySecret(id: created.id, name: old.name, role: old.role.rawValue, key: created.key, expires_at: nil,
                                  replaces: id, replaced_key_valid_until: Self.iso8601(millis: until)),
                        status: .created, seq: created.seq)
    }
}
