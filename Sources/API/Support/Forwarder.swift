package import Core
package import NodeServices
package import Replication
package import Hummingbird
import Foundation
package import HTTPTypes
import Logging
import NIOCore

/// Where writes go when this node is not the leader: the leader's peer listener, over mutual TLS.
package struct Forwarder: Sendable {
    package let view: ClusterView
    package let client: PeerClient

    package init(view: ClusterView, client: PeerClient) {
        self.view = view
        self.client = client
    }
}

extension APIServer {
    package static let forwardedHeader = HTTPField.Name("X-SMA-Forwarded-By")!
    /// The original client's address on a forwarded request (trusted only from an authenticated peer).
    package static let clientAddressHeader = HTTPField.Name("X-SMA-Client-Address")!

    /// The audit actor of a request: the authenticated API key, the original client address and receiving node.
    package func auditActor(_ principal: Principal, _ context: SMARequestContext) -> AuditActor {
        let origin = context.auditOrigin
        return AuditActor(apiKeyID: principal.keyID == 0 ? nil : principal.keyID, name: principal.name, role: principal.role.rawValue,
                          clientAddress: origin.clientAddress, nodeID: origin.nodeID ?? config.nodeID)
    }

    /// The local write path when this node holds the lease; nil when the write must go to the leader.
    package func localWriter() -> DeviceService? {
        guard let devices, leadership.isLeader else { return nil }
        return devices
    }

    /// Relays a write to the leader and answers with the leader's answer (status, body, X-SMA-Seq).
    package func forwardToLeader(_ request: Request, body: ByteBuffer, context: SMARequestContext) async throws -> Response {
        guard request.headers[Self.forwardedHeader] == nil else {
            throw NodeError(.notLeader, "this node received a forwarded write but does not hold the leader lease; retry shortly")
        }
        guard let forwarder else {
            throw NodeError(.notLeader, "this node does not hold the leader lease and has no peer channel to reach the leader")
        }
        guard let leader = forwarder.view.leader, leader.id != config.nodeID else {
            throw NodeError(.notLeader, "no leader is known right now (election or partition); retry shortly")
        }
        // The client's credentials go only to a leader-eligible node, and only to the key its signed record names
        // (the view takes leader claims only from leader-eligible certificates; the pin holds the connection to it).
        guard let identity = leader.certificate.flatMap({ forwarder.view.authenticator?.identity(ofCertificate: $0) }),
              identity.role == .leaderEligible, identity.id == leader.id else {
            throw NodeError(.notLeader, "the leader's identity (\(leader.id)) is not proven by a leader-eligible certificate; retry shortly")
        }
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let auth = request.headers[.authorization] { headers.append(("Authorization", auth)) }
        // The leader authenticates the same API key itself; the client address travels as a header it trusts
        // only on its mutual-TLS peer listener.
        headers.append(("X-SMA-Client-Address", context.auditOrigin.clientAddress))
        let path = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
        let answer: HTTPClientResponse
        do {
            answer = try await forwarder.client.forward(leader.peerURL, pinnedPublicKey: identity.pinnedKey, method: request.method.rawValue, pathAndQuery: path,
                                                        headers: headers, body: request.method == .get ? nil : Array(body.readableBytesView))
        } catch {
            context.logger.warning("could not forward a write to the leader", metadata: ["replication.peer": "\(leader.id)", "error": "\(error)"])
            throw NodeError(.notLeader, "the leader (\(leader.id)) is unreachable from this node; retry shortly")
        }
        var out: HTTPFields = [.contentType: answer.header("Content-Type") ?? "application/json"]
        if let seq = answer.header("X-SMA-Seq") { out[Self.seqHeader] = seq }
        if let retry = answer.header("Retry-After") { out[.retryAfter] = retry }
        return Response(status: .init(code: answer.status), headers: out, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
