import SMAErrors
import Core
import NodeServices
import Foundation
import Logging
import NIOPosix

/// Calls other nodes' peer listeners over mutual TLS (libcurl).
package final class PeerClient: Sendable {
    package let http: CurlHTTPClient
    /// Short timeouts for the status page's fan-out: a slow or dead peer must not hold the page up.
    package let statusHTTP: CurlHTTPClient
    /// Gossip rounds are small and frequent: short timeouts, so an unreachable (e.g. partitioned) peer delays
    /// a round by at most ~3 s instead of the 10 s a log transfer may take.
    package let gossipHTTP: CurlHTTPClient
    package let nodeID: String

    /// The threads libcurl's blocking transfers run on: the peer channel's own, so a peer that does not answer (a
    /// partition drops its packets) holds at most these threads, never the database pool's.
    private let threadPool: NIOThreadPool

    /// `sourceAddress`: the local address outgoing connections bind to (NodeConfiguration.effectivePeerSourceAddress).
    /// `threads`: concurrent peer transfers (gossip, pushes, pulls, forwarded writes, status fan-out).
    package init(tls: HTTPClientTLS, nodeID: String, threads: Int = 12, requestTimeout: Duration = .seconds(10), sourceAddress: String? = nil) {
        let threadPool = NIOThreadPool(numberOfThreads: threads)
        threadPool.start()
        self.threadPool = threadPool
        http = CurlHTTPClient(tls: tls, connectTimeout: .seconds(2), requestTimeout: requestTimeout, sourceAddress: sourceAddress,
                              threadPool: threadPool)
        gossipHTTP = CurlHTTPClient(tls: tls, connectTimeout: .seconds(1), requestTimeout: .seconds(3), maxResponseBytes: 4 << 20,
                                    sourceAddress: sourceAddress, threadPool: threadPool)
        statusHTTP = CurlHTTPClient(tls: tls, connectTimeout: .milliseconds(500), requestTimeout: .seconds(1), maxResponseBytes: 1 << 20,
                                    maxIdleHandles: 4, sourceAddress: sourceAddress, threadPool: threadPool)
        self.nodeID = nodeID
    }

    /// Loads PEM files named by the configuration.
    package static func tls(cert: String, key: String, ca: String) throws -> HTTPClientTLS {
        func read(_ path: String, _ key: String) throws -> String {
            guard let d = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError(key: key, problem: "cannot read \(path)")
            }
            return String(decoding: d, as: UTF8.self)
        }
        return HTTPClientTLS(certificateChainPEM: try read(cert, "peer_cert_file"), privateKeyPEM: try read(key, "peer_key_file"),
                             trustRootsPEM: try read(ca, "peer_ca_file"))
    }

    /// A peer answered, but not as the protocol says (a non-200 status or a body that does not decode).
    package struct PeerError: CodedError {
        package enum Code: String, Sendable, CustomStringConvertible {
            case unexpectedStatus = "unexpected_status"
            case malformedAnswer = "malformed_answer"
            package var description: String { rawValue }
        }
        package var code: Code
        package var reason: String
        package var file: String
        package var line: Int
        package init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
            self.code = code
            self.reason = reason
            self.file = file
            self.line = line
        }
    }

    private func json<T: Decodable>(_ type: T.Type, _ response: HTTPClientResponse, _ what: String) throws -> T {
        guard response.status == 200 else { throw PeerError(.unexpectedStatus, "\(what): HTTP \(response.status)") }
        do { return try JSONDecoder().decode(T.self, from: Data(response.body)) } catch {
            throw PeerError(.malformedAnswer, "\(what): the answer does not decode")
        }
    }

    package func gossip(_ url: String, _ envelope: GossipEnvelope) async throws -> GossipEnvelope {
        let r = try await gossipHTTP.send(method: "POST", url: url + "/peer/v1/gossip", headers: [("Content-Type", "application/json")],
                                    body: Array(try JSONEncoder().encode(envelope)))
        return try json(GossipEnvelope.self, r, "gossip")
    }

    package func pull(_ url: String, after: Int64, limit: Int) async throws -> LogBatch {
        let r = try await http.send(method: "GET", url: url + "/peer/v1/log?after=\(after)&limit=\(limit)")
        return try json(LogBatch.self, r, "pull")
    }

    package func push(_ url: String, _ batch: LogBatch) async throws -> PushAnswer {
        let r = try await http.send(method: "POST", url: url + "/peer/v1/log", headers: [("Content-Type", "application/json")],
                                    body: Array(try JSONEncoder().encode(batch)))
        return try json(PushAnswer.self, r, "push")
    }

    /// A peer's applied seq, lag and validation series (1 s timeout).
    package func status(_ url: String) async throws -> PeerStatus {
        let r = try await statusHTTP.send(method: "GET", url: url + "/peer/v1/status")
        return try json(PeerStatus.self, r, "status")
    }

    /// Relays a public request to another node's peer listener (which serves the public routes too), only if the
    /// server there holds the key `pinnedPublicKey` (the leader's, from its authenticated member record).
    package func forward(_ url: String, pinnedPublicKey: String, method: String, pathAndQuery: String, headers: [(String, String)],
                         body: [UInt8]?) async throws -> HTTPClientResponse {
        try await http.send(method: method, url: url + pathAndQuery, headers: headers + [("X-SMA-Forwarded-By", nodeID)], body: body,
                            pinnedPublicKey: pinnedPublicKey)
    }

    package func shutdown() async {
        http.shutdown()
        gossipHTTP.shutdown()
        statusHTTP.shutdown()
        try? await threadPool.shutdownGracefully()
    }
}
