import Core
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import Replication

/// Where writes go when this node is not the leader: the leader's peer listener, over mutual TLS.
struct Forwarder: Sendable {
    let view: ClusterView
    let client: PeerClient
}

extension APIServer {
    static let forwardedHeader = HTTPField.Name("X-SMA-Forwarded-By")!

    /// The local write path when this node holds the lease; nil when the write must go to the leader.
    func localWriter() -> DeviceService? {
        guard let devices, leadership.isLeader else { return nil }
        return devices
    }

    /// Relays a write to the leader and answers with the leader's answer (status, body, X-SMA-Seq).
    func forwardToLeader(_ request: Request, body: ByteBuffer, context: SMARequestContext) async throws -> Response {
        guard request.headers[Self.forwardedHeader] == nil else {
            throw NodeError(.notLeader, "this node received a forwarded write but does not hold the leader lease; retry shortly")
        }
        guard let forwarder else {
            throw NodeError(.notLeader, "this node does not hold the leader lease and has no peer channel to reach the leader")
        }
        guard let leader = forwarder.view.leader, leader.id != config.nodeID else {
            throw NodeError(.notLeader, "no leader is known right now (election or partition); retry shortly")
        }
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let auth = request.headers[.authorization] { headers.append(("Authorization", auth)) }
        let path = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
        let answer: HTTPClientResponse
        do {
            answer = try await forwarder.client.forward(leader.peerURL, method: request.method.rawValue, pathAndQuery: path,
                                                        headers: headers, body: Array(body.readableBytesView))
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
