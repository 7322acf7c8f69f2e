import Core

/// Revokes cluster nodes on the leader: a replicated, audited `node_revoked` entry. From the moment a node
/// applies it, the revoked node's certificate is refused on its peer listener, its gossip is ignored and it is
/// dropped from the member table; the lease table refuses it as holder. Revocation is for good: hardware that
/// comes back joins under a new node id with a new certificate.
package struct NodeRevocationService: Sendable {
    let state: NodeState
    let writer: LogWriter

    package init(state: NodeState, writer: LogWriter) {
        self.state = state
        self.writer = writer
    }

    /// Revokes node `id`. Returns the entry's seq, or nil when it was already revoked (idempotent).
    package func revoke(id: String, reason: String, actor: AuditActor) async throws -> Int64? {
        try Self.checkNodeID(id)
        try DeviceService.checkText(reason, field: "reason")
        guard !state.isNodeRevoked(id) else { return nil }
        return try await writer.write([.nodeRevoked(.init(nodeID: id, reason: reason))], audit: actor).last?.seq
    }

    /// A node id as certificates carry it: 1-64 bytes of letters, digits, `.`, `_` and `-`.
    package static func checkNodeID(_ id: String) throws {
        guard (1...64).contains(id.utf8.count),
              id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || [0x2D, 0x2E, 0x5F].contains($0) }) else {
            throw NodeError(.invalidInput, "must be a node id: 1-64 letters, digits, '.', '_' or '-'", field: "id")
        }
    }
}
