import Core
import Foundation
import Logging
import NIOPosix
import Replication

/// Calls other nodes' peer listeners over mutual TLS (libcurl).
final class PeerClient: Sendable {
    let http: CurlHTTPClient
    let nodeID: String

    /// `sourceAddress`: the local address outgoing connections bind to (NodeConfiguration.effectivePeerSourceAddress).
    init(tls: HTTPClientTLS, nodeID: String, threadPool: NIOThreadPool, requestTimeout: Duration = .seconds(10), sourceAddress: String? = nil) {
        http = CurlHTTPClient(tls: tls, connectTimeout: .seconds(2), requestTimeout: requestTimeout, sourceAddress: sourceAddress,
                              threadPool: threadPool)
        self.nodeID = nodeID
    }

    /// Loads PEM files named by the configuration.
    static func tls(cert: String, key: String, ca: String) throws -> HTTPClientTLS {
        func read(_ path: String, _ key: String) throws -> String {
            guard let d = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError(key: key, problem: "cannot read \(path)")
            }
            return String(decoding: d, as: UTF8.self)
        }
        return HTTPClientTLS(certificateChainPEM: try read(cert, "peer_cert_file"), privateKeyPEM: try read(key, "peer_key_file"),
                             trustRootsPEM: try read(ca, "peer_ca_file"))
    }

    struct PeerError: Error, CustomStringConvertible {
        var description: String
    }

    private func json<T: Decodable>(_ type: T.Type, _ response: HTTPClientResponse, _ what: String) throws -> T {
        guard response.status == 200 else { throw PeerError(description: "\(what): HTTP \(response.status)") }
        do { return try JSONDecoder().decode(T.self, from: Data(response.body)) } catch {
            throw PeerError(description: "\(what): malformed answer")
        }
    }

    func gossip(_ url: String, _ envelope: GossipEnvelope) async throws -> GossipEnvelope {
        let r = try await http.send(method: "POST", url: url + "/peer/v1/gossip", headers: [("Content-Type", "application/json")],
                                    body: Array(try JSONEncoder().encode(envelope)))
        return try json(GossipEnvelope.self, r, "gossip")
    }

    func pull(_ url: String, after: Int64, limit: Int) async throws -> LogBatch {
        let r = try await http.send(method: "GET", url: url + "/peer/v1/log?after=\(after)&limit=\(limit)")
        return try json(LogBatch.self, r, "pull")
    }

    func push(_ url: String, _ batch: LogBatch) async throws -> PushAnswer {
        let r = try await http.send(method: "POST", url: url + "/peer/v1/log", headers: [("Content-Type", "application/json")],
                                    body: Array(try JSONEncoder().encode(batch)))
        return try json(PushAnswer.self, r, "push")
    }

    /// Relays a public request to another node's peer listener (which serves the public routes too).
    func forward(_ url: String, method: String, pathAndQuery: String, headers: [(String, String)], body: [UInt8]?) async throws -> HTTPClientResponse {
        try await http.send(method: method, url: url + pathAndQuery, headers: headers + [("X-SMA-Forwarded-By", nodeID)], body: body)
    }

    func shutdown() { http.shutdown() }
}
