import SMATestSupport
import Core
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SMAPostgres
import SwiftASN1
import Testing
import X509
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

/// Several real nodes in this process, each with its public and peer (mTLS) listeners on loopback:
/// region 1 = leader-eligible nodes sharing the authoritative database, other regions = followers
/// with their own database. Nodes run their full service set (lease, tailer, gossip, push/pull).
final class TestCluster: @unchecked Sendable {
    // @unchecked: mutated only by the test's own task, between awaits.
    struct Node {
        var config: NodeConfiguration
        var runtime: NodeRuntime?
        var group: ServiceGroup?
        var task: Task<Void, Never>?
        var publicURL: String { "http://127.0.0.1:\(config.publicPort)" }
        var peerURL: String { "https://127.0.0.1:\(config.peerPort)" }
    }

    var nodes: [String: Node] = [:]
    var databases: [TestDatabase] = []
    let dir: String
    let keys: [Role: String]
    let caPEM: String
    let caKey: P256.Signing.PrivateKey
    let http = CurlHTTPClient(tls: nil, requestTimeout: .seconds(15), threadPool: .singleton)
    let logger: Logger

    /// `layout`: node ids per region, region 1 first, e.g. [["a1", "a2"], ["b1"]].
    /// `configure` may change every node's configuration before it starts.
    init(layout: [[String]], tables: Int = 50, logger: Logger = testLogger, configure: (inout NodeConfiguration) -> Void = { _ in }) async throws {
        self.logger = logger
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sma-cluster-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ca = try ClusterPKI.makeCA(name: "test cluster CA", now: Date())
        caPEM = try ca.certificate.serializeAsPEM().pemString
        caKey = ca.key
        try caPEM.write(toFile: "\(dir)/ca.pem", atomically: true, encoding: .utf8)
        let kekPath = "\(dir)/kek"
        try KeyEncryptionKey.generate().fileContents.write(toFile: kekPath, atomically: true, encoding: .utf8)
        let kek = try NodeRuntime.readKEK(path: kekPath)

        var allPeers: [String] = []
        var planned: [(String, String, NodeRole, Int, Int, String)] = []
        for (r, ids) in layout.enumerated() {
            let db: TestDatabase = try await TestDatabase.create()
            databases.append(db)
            for id in ids {
                let (pub, peer) = (try Self.freePort(), try Self.freePort())
                planned.append((id, "region-\(r + 1)", r == 0 ? .leaderEligible : .follower, pub, peer, db.conninfo))
                allPeers.append("https://127.0.0.1:\(peer)")
            }
        }
        let (k, logKey) = try await databases[0].withConnection(logger: logger) { authoritative in
            _ = try NodeBootstrap.initialize(authoritative, kek: kek, tables: tables, manufacturer: "SIMULATED_MFG", force: false, logger: logger) { _ in }
            var k: [Role: String] = [:]
            for role in Role.allCases { k[role] = try NodeBootstrap.createAPIKey(authoritative, kek: kek, role: role, name: "test-\(role)").key }
            return (k, Hex.encode(try Store.meta(authoritative, Store.MetaKey.logPublicKey)!))
        }
        keys = k

        for (id, region, role, pub, peer, conninfo) in planned {
            let issued = try ClusterPKI.issueNodeCertificate(nodeID: id, role: role, hosts: ["127.0.0.1"], ca: ca.certificate, caKey: ca.key, now: Date())
            try issued.certificate.serializeAsPEM().pemString.write(toFile: "\(dir)/\(id).pem", atomically: true, encoding: .utf8)
            try issued.key.pemRepresentation.write(toFile: "\(dir)/\(id).key", atomically: true, encoding: .utf8)
            var c = NodeConfiguration()
            c.nodeID = id
            c.region = region
            c.role = role
            c.publicPort = pub
            c.peerPort = peer
            c.databaseURL = conninfo
            c.databasePoolSize = 4
            c.kekFile = kekPath
            c.peerCertFile = "\(dir)/\(id).pem"
            c.peerKeyFile = "\(dir)/\(id).key"
            c.peerCAFile = "\(dir)/ca.pem"
            c.logVerificationKey = logKey
            c.timing = "lan"
            c.leaseTTLSeconds = 3
            c.seeds = allPeers.filter { $0 != "https://127.0.0.1:\(peer)" }
            c.minSeqWaitSeconds = 5
            c.logPollSeconds = 0.1
            configure(&c)
            nodes[id] = Node(config: c)
        }
        for ids in layout { for id in ids { try await start(id) } }
    }

    /// Runs `body` with a new cluster and always shuts it down (databases dropped) before returning.
    static func with<T>(layout: [[String]], tables: Int = 50, configure: (inout NodeConfiguration) -> Void = { _ in },
                        _ body: (TestCluster) async throws -> T) async throws -> T {
        let cluster = try await TestCluster(layout: layout, tables: tables, configure: configure)
        do {
            let result = try await body(cluster)
            await cluster.shutdown()
            return result
        } catch {
            await cluster.shutdown()
            throw error
        }
    }

    static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress!.port!
        try channel.close().wait()
        return port
    }

    func start(_ id: String) async throws {
        var node = nodes[id]!
        let runtime = try await NodeRuntime.start(config: node.config, logger: logger)
        let services: [any Service] = [runtime.application()] + runtime.backgroundServices()
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        node.runtime = runtime
        node.group = group
        node.task = Task { try? await group.run() }
        nodes[id] = node
        try await waitUntil("\(id) listens") { await self.status("GET", "\(node.publicURL)/healthz") == 200 }
    }

    /// Stops a node: its listeners close, its lease is released (a clean stop).
    func stop(_ id: String) async {
        guard let node = nodes[id], let group = node.group else { return }
        await group.triggerGracefulShutdown()
        await node.task?.value
        await node.runtime?.shutdown()
        nodes[id]?.group = nil
        nodes[id]?.runtime = nil
    }

    /// Simulates a crash: the node's database pool is closed first, so nothing (the lease above all)
    /// can be released on the way down; its listeners then stop.
    func crash(_ id: String) async {
        guard let node = nodes[id], let group = node.group else { return }
        node.runtime?.pool.close()
        node.task?.cancel()
        await group.triggerGracefulShutdown()
        await node.task?.value
        await node.runtime?.shutdown()
        nodes[id]?.group = nil
        nodes[id]?.runtime = nil
    }

    func shutdown() async {
        for id in nodes.keys { await stop(id) }
        http.shutdown()
        for db in databases { await db.drop() }
        try? FileManager.default.removeItem(atPath: dir)
    }

    func runtime(_ id: String) -> NodeRuntime { nodes[id]!.runtime! }

    /// A peer-channel client holding node `id`'s own certificate and key (as an attacker who stole them would).
    func peerClient(as id: String) throws -> CurlHTTPClient {
        func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }
        return CurlHTTPClient(tls: HTTPClientTLS(certificateChainPEM: try read("\(dir)/\(id).pem"), privateKeyPEM: try read("\(dir)/\(id).key"),
                                                 trustRootsPEM: caPEM), threadPool: .singleton)
    }

    // MARK: HTTP

    func call(_ method: String, _ url: String, role: Role?, body: [UInt8]? = nil, headers: [(String, String)] = []) async -> HTTPClientResponse? {
        var h = headers + [("Content-Type", "application/json")]
        if let role { h.append(("Authorization", "Bearer \(keys[role]!)")) }
        return try? await http.send(method: method, url: url, headers: h, body: body)
    }

    func status(_ method: String, _ url: String) async -> Int {
        await call(method, url, role: nil)?.status ?? 0
    }

    /// Provisions through node `id`; like a real client it retries a `503` (Retry-After) for up to `retryFor`.
    func provision(via id: String, serial: String, retryFor: Duration = .seconds(10)) async throws -> (ProvisionResponse, Int64) {
        let body = Array(try JSONSerialization.data(withJSONObject: ["device_serial": serial, "device_family": "F"]))
        let deadline = ContinuousClock.now.advanced(by: retryFor)
        var answer = await call("POST", "\(nodes[id]!.publicURL)/api/v1/devices/provision", role: .provisioner, body: body)
        while answer?.status == 503, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            answer = await call("POST", "\(nodes[id]!.publicURL)/api/v1/devices/provision", role: .provisioner, body: body)
        }
        let r = try #require(answer)
        try #require(r.status == 201, "provision via \(id): \(r.status) \(String(decoding: r.body, as: UTF8.self))")
        return (try JSONDecoder().decode(ProvisionResponse.self, from: Data(r.body)), Int64(r.header("X-SMA-Seq") ?? "") ?? -1)
    }

    /// `valid` from `/validate` on node `id`, or nil when it did not answer 200.
    func validate(on id: String, _ token: ValidationRequest.Token) async -> Bool? {
        let body = Array(try! JSONEncoder().encode(ValidationRequest(camera_token: token)))
        guard let r = await call("POST", "\(nodes[id]!.publicURL)/validate", role: .validator, body: body), r.status == 200 else { return nil }
        return (try? JSONDecoder().decode(ValidationResponse.self, from: Data(r.body)))?.valid
    }

    func waitUntil(_ what: String, timeout: Duration = .seconds(20), _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting until \(what)")
        throw CancellationError()
    }
}
