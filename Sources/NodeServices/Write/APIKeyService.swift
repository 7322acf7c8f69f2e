package import Core
import Foundation
import Prometheus

/// The API-key lifecycle on the leader: create, revoke and rotate keys as replicated, audited log entries. A new
/// key's secret is returned once and never stored; a revoked key is refused on every node once the entry reaches it.
package final class APIKeyService: Sendable {
    let state: NodeState
    let writer: LogWriter

    package init(state: NodeState, writer: LogWriter) {
        self.state = state
        self.writer = writer
    }

    /// Longest expiry and rotation grace accepted, seconds (a year and a week).
    package static let maxExpirySeconds = 366 * 86_400
    package static let maxGraceSeconds = 7 * 86_400

    /// A created key: its secret (shown once), id and log seq.
    package struct Created: Sendable {
        package var key: String
        package var id: Int64
        package var expiresMillis: Int64?
        package var seq: Int64
    }

    /// Creates a key for `role`, valid for `expiresInSeconds` (nil: until revoked).
    package func create(name: String, role: Role, expiresInSeconds: Int?, actor: AuditActor) async throws -> Created {
        try DeviceService.checkText(name, field: "name")
        let expires = try Self.expiry(expiresInSeconds)
        let key = APIKey.generate()
        let hash = APIKey.hash(key)
        let entries = try await writer.write([], audit: actor) { reads in
            [.apiKeyCreated(.init(id: try reads.nextAPIKeyID(), name: name, role: role, keyHash: hash, expiresMillis: expires))]
        }
        guard let entry = entries.last, case .apiKeyCreated(let created)? = try? entry.change() else {
            throw NodeError(.internal, "the key creation was not committed")
        }
        return Created(key: key, id: created.id, expiresMillis: expires, seq: entry.seq)
    }

    /// Revokes key `id` at once. Idempotent (nil: it was not valid any more). Refuses to revoke the last admin key.
    package func revoke(id: Int64, actor: AuditActor) async throws -> Int64? {
        guard let principal = state.apiKeys.principal(keyID: id) else {
            throw NodeError(.notFound, "no valid API key with this id (unknown, revoked or expired)")
        }
        if principal.role == .admin && state.apiKeys.count(role: .admin) <= 1 {
            throw NodeError(.conflict, "this is the last admin key: create another admin key before revoking it", field: "id")
        }
        return try await writer.write([.apiKeyRevoked(.init(id: id))], audit: actor).last?.seq
    }

    /// Replaces key `id` with a new key of the same name and role; the old one stays valid for `graceSeconds`.
    package func rotate(id: Int64, graceSeconds: Int, actor: AuditActor) async throws -> (created: Created, oldValidUntilMillis: Int64) {
        guard let principal = state.apiKeys.principal(keyID: id) else {
            throw NodeError(.notFound, "no valid API key with this id (unknown, revoked or expired)")
        }
        guard (0...Self.maxGraceSeconds).contains(graceSeconds) else {
            throw NodeError(.invalidInput, "must be an integer from 0 to \(Self.maxGraceSeconds)", field: "grace_seconds")
        }
        let oldUntil = Registry.systemMillis() + Int64(graceSeconds) * 1000
        let key = APIKey.generate()
        let hash = APIKey.hash(key)
        let entries = try await writer.write([], audit: actor) { reads in
            [.apiKeyCreated(.init(id: try reads.nextAPIKeyID(), name: principal.name, role: principal.role, keyHash: hash)),
             .apiKeyRevoked(.init(id: id, effectiveMillis: oldUntil))]
        }
        guard let first = entries.first, case .apiKeyCreated(let created)? = try? first.change(), let last = entries.last else {
            throw NodeError(.internal, "the key rotation was not committed")
        }
        return (Created(key: key, id: created.id, expiresMillis: nil, seq: last.seq), oldUntil)
    }

    static func expiry(_ seconds: Int?) throws -> Int64? {
        guard let seconds else { return nil }
        guard (1...maxExpirySeconds).contains(seconds) else {
            throw NodeError(.invalidInput, "must be an integer from 1 to \(maxExpirySeconds)", field: "expires_in_seconds")
        }
        return Registry.systemMillis() + Int64(seconds) * 1000
    }
}
