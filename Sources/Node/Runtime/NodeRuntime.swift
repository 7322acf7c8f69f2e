import API
import Core
import Crypto
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NodeServices
import Replication
import SMAPostgres
import ServiceLifecycle
import Storage
import SwiftASN1
import X509

/// A running node's parts, built from its configuration: database pool, in-memory state
/// loaded from PostgreSQL, the leader's writer (leader-eligible nodes), the API and background services.
final class NodeRuntime: Sendable {
    let config: NodeConfiguration
    let threadPool: NIOThreadPool
    /// Blocking CPU work (provisioning's key generation and signing, log signature checks): one thread a core,
    /// apart from the cooperative pool that serves requests and from the database threads.
    let cpuPool: NIOThreadPool
    let pool: PostgresPool
    /// The database behind the storage ports.
    let store: SQLStore
    let state: NodeState
    let leadership: Leadership
    let metrics: NodeMetrics
    let devices: DeviceService?
    let verifier: LogVerifier
    let logger: Logger
    /// The peer channel (nil when `peer_cert_file` is not configured: a node on its own).
    let peer: Peer?
    /// HTTPS on the public port (nil when `public_tls_cert_file` is not configured: plain HTTP).
    let publicTLS: PublicTLSContext?

    struct Peer: Sendable {
        let view: ClusterView
        let client: PeerClient
        let pushes: PushQueue
        let replicator: Replicator
        let serverTLS: TLSConfiguration
    }

    /// Opens the database, checks the KEK, migrates, loads memory; fails with a message that names the problem.
    static func start(config: NodeConfiguration, logger: Logger) async throws -> NodeRuntime {
        try Asset.verifyInstalled()
        let kek = try readKEK(path: config.kekFile)
        let threadPool = NIOThreadPool(numberOfThreads: config.databasePoolSize + 2)
        threadPool.start()
        let cpuPool = NIOThreadPool(numberOfThreads: max(2, System.coreCount))
        cpuPool.start()
        let pool = PostgresPool(conninfo: config.databaseURL, size: config.databasePoolSize, threadPool: threadPool, logger: logger)
        do {
            return try await start(config: config, kek: kek, threadPool: threadPool, cpuPool: cpuPool, pool: pool, logger: logger)
        } catch {
            pool.close()
            try? await threadPool.shutdownGracefully()
            try? await cpuPool.shutdownGracefully()
            throw error
        }
    }

    private static func start(config: NodeConfiguration, kek: KeyEncryptionKey, threadPool: NIOThreadPool, cpuPool: NIOThreadPool, pool: PostgresPool,
                              logger: Logger) async throws -> NodeRuntime {
        let metrics = NodeMetrics()
        // The public certificate first: a wrong file stops start-up before anything is loaded, naming the file.
        let publicTLS = try config.publicTLSEnabled
            ? PublicTLSContext(config: config, onHandshakeFailure: { [logger] error in
                metrics.publicTLSHandshakeFailed()
                logger.debug("public TLS handshake refused", metadata: ["error": "\(error)"])
            })
            : nil
        if let publicTLS {
            metrics.publicTLSCertificate(notAfter: publicTLS.certificate.notAfter, reloaded: false)
            logger.notice("public TLS certificate loaded", metadata: PublicTLSReloader.metadata(publicTLS))
        }
        let incarnation = UInt64(Date().timeIntervalSince1970 * 1000)
        let state = NodeState(kek: kek, metrics: metrics, logger: logger, nodeID: config.nodeID, abuseThresholds: config.abuseThresholds,
                              incarnation: incarnation)
        let store = SQLStore(pool: pool, logger: logger)
        let clock = ContinuousClock()
        let t0 = clock.now
        let configuredLogKey = config.logVerificationKey.flatMap { Hex.decode($0) }
        try await waitForDatabase(pool: pool, logger: logger)
        try await store.prepare(kek: kek, logVerificationKey: configuredLogKey)
        // Derive every key (CPU) while the devices stream in from PostgreSQL (I/O + decoding).
        let sealedTables = try await store.sealedKeyTables()
        let masterKeys = try state.unseal(sealedTables)
        // (On the CPU thread pool: deriving 2,500,000 keys must not hold a cooperative thread.)
        async let derived = cpuPool.runIfActive { (keys: masterKeys, tables: KeyTables(masterKeys: NodeState.dense(masterKeys))) }
        let snapshot = try await store.snapshot { n in logger.info("loading devices", metadata: ["devices.loaded": "\(n)"]) }
        let t1 = clock.now
        try state.load(snapshot, derived: try await derived)
        guard let rawLogKey = snapshot.logPublicKey else {
            throw NodeError(.notInitialized, "database has no log verification key: run `sma-node init`")
        }
        let verifier = try LogVerifier(rawPublicKey: rawLogKey)
        if state.abuse.enabled {
            // Reinstatements of the last window: counts reported before them (peers still gossip such reports) stay ignored.
            let since = AbuseMonitor.nowMillis() - state.abuse.windowMillis
            let reinstated = try await store.reinstatements(sinceMillis: since)
            for r in reinstated { state.abuse.deviceReinstated(serial: r.serial, seq: r.seq, nowMillis: r.millis) }
        }
        logger.notice("state loaded", metadata: [
            "devices": "\(snapshot.index.count)", "key_tables": "\(snapshot.tables.count)", "log.seq": "\(snapshot.head)",
            "read_seconds": "\(seconds(t0.duration(to: t1)))", "total_seconds": "\(seconds(t0.duration(to: clock.now)))",
        ])

        var peer: Peer?
        if config.peerEnabled {
            peer = try makePeer(config: config, state: state, store: store, cpuPool: cpuPool, verifier: verifier, logger: logger)
        }
        var devices: DeviceService?
        let runtimeLeadership = Leadership(nodeID: config.nodeID, ttlSeconds: config.leaseTTLSeconds)
        if config.role == .leaderEligible {
            let (signer, authority) = try await store.writerKeys(kek: kek)
            let pushes = peer?.pushes
            let writer = LogWriter(store: store, signer: signer, state: state, leadership: runtimeLeadership) { entries in
                pushes?.enqueue(entries)
            }
            devices = DeviceService(state: state, writer: writer, authority: authority, manufacturer: config.manufacturer,
                                    maEndpoint: config.effectiveMAEndpoint, metrics: metrics, cpu: cpuPool,
                                    assignTablesBelow: config.effectiveAssignTablesBelow,
                                    acceptsDeviceSecret: config.compatibility == .birthmark,
                                    crlValidity: .milliseconds(Int64(config.crlValidityHours * 3_600_000)))
        }
        return NodeRuntime(config: config, threadPool: threadPool, cpuPool: cpuPool, pool: pool, store: store, state: state, leadership: runtimeLeadership,
                           metrics: metrics, devices: devices, verifier: verifier, logger: logger, peer: peer, publicTLS: publicTLS)
    }

    private static func makePeer(config: NodeConfiguration, state: NodeState, store: SQLStore, cpuPool: NIOThreadPool, verifier: LogVerifier,
                                 logger: Logger) throws -> Peer {
        let tls = try PeerClient.tls(cert: config.peerCertFile!, key: config.peerKeyFile!, ca: config.peerCAFile!)
        let serverTLS: TLSConfiguration
        do {
            serverTLS = TLSConfiguration.makeServerConfigurationWithMTLS(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(tls.certificateChainPEM.utf8)).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(tls.privateKeyPEM.utf8), format: .pem)),
                trustRoots: .certificates(try NIOSSLCertificate.fromPEMBytes(Array(tls.trustRootsPEM.utf8))))
        } catch {
            throw ConfigurationError(key: "peer_cert_file", problem: "peer certificate, key or CA is not valid PEM")
        }
        let credential = try ownCredential(config: config, tls: tls)
        let authenticator = try MemberAuthenticator(
            caPEM: tls.trustRootsPEM, credential: credential, isRevoked: { [state] in state.isNodeRevoked($0) },
            onRefusal: { [state, logger] record, refusal in
                state.metrics.memberRecordRefused()
                logger.debug("gossiped member record refused", metadata: ["replication.peer": "\(record.id.prefix(64))", "refusal": "\(refusal.rawValue)"])
            })
        let me = MemberInfo(id: config.nodeID, region: config.region, role: config.role.rawValue,
                            peerURL: "https://\(config.peerHost):\(config.peerPort)", publicURL: config.publicURL,
                            appliedSeq: state.applied, incarnation: UInt64(Date().timeIntervalSince1970 * 1000))
        let view = ClusterView(me: me, timing: config.timing == "lan" ? .lan : .wan, seeds: config.seeds, authenticator: authenticator)
        let pushes = PushQueue()
        let client = PeerClient(tls: tls, nodeID: config.nodeID, sourceAddress: config.effectivePeerSourceAddress)
        let replicator = Replicator(store: store, cpu: cpuPool, state: state, verifier: verifier, pushes: pushes, logger: logger)
        return Peer(view: view, client: client, pushes: pushes, replicator: replicator, serverTLS: serverTLS)
    }

    /// The node's own peer certificate and key. The certificate decides who the node is: its CN must be `node_id`
    /// and its OU the configured `role` (the cluster CA granted it; peers check the same), and it must name
    /// `peer_host`, which peers reach it at.
    /// How long a starting node waits for its database (a formation promoting a standby, a region coming back).
    static let databaseStartupWait: Duration = .seconds(120)

    /// Waits until the database accepts a connection (for a multi-host formation URL: a writable primary), retrying
    /// connection failures every second for up to `databaseStartupWait` with a log line every 10 s; any other
    /// error, or the last connection error, is thrown.
    static func waitForDatabase(pool: PostgresPool, logger: Logger) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + databaseStartupWait
        var attempts = 0
        while true {
            do {
                try await pool.withConnection { try $0.execute(script: "SELECT 1") }
                if attempts > 0 { logger.notice("database reachable", metadata: ["db.attempts": "\(attempts + 1)"]) }
                return
            } catch let error as PostgresError where error.code == .connectionFailed && clock.now < deadline {
                if attempts % 10 == 0 {
                    logger.warning("waiting for the database (no writable server yet); retrying every second",
                                   metadata: ["error": "\(error)", "db.wait_seconds_left": "\((deadline - clock.now).components.seconds)"])
                }
                attempts += 1
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    static func ownCredential(config: NodeConfiguration, tls: HTTPClientTLS) throws -> NodeCredential {
        let credential: NodeCredential
        do { credential = try NodeCredential(certificatePEM: tls.certificateChainPEM, keyPEM: tls.privateKeyPEM) } catch {
            throw ConfigurationError(key: "peer_cert_file", problem: error.reason)
        }
        let identity = credential.identity
        guard identity.id == config.nodeID else {
            throw ConfigurationError(key: "node_id", problem: "the peer certificate is issued to node '\(identity.id)', not '\(config.nodeID)'")
        }
        guard identity.role == config.role else {
            throw ConfigurationError(key: "role", problem: "the peer certificate grants role '\(identity.role.rawValue)', not '\(config.role.rawValue)'; "
                                     + "issue a certificate with `sma-node pki node --role \(config.role.rawValue)`")
        }
        guard identity.hosts.contains(config.peerHost) else {
            throw ConfigurationError(key: "peer_host", problem: "the peer certificate does not name \(config.peerHost) (it names \(identity.hosts.joined(separator: ", ")))")
        }
        return credential
    }

    private init(config: NodeConfiguration, threadPool: NIOThreadPool, cpuPool: NIOThreadPool, pool: PostgresPool, store: SQLStore, state: NodeState, leadership: Leadership,
                 metrics: NodeMetrics, devices: DeviceService?, verifier: LogVerifier, logger: Logger, peer: Peer?, publicTLS: PublicTLSContext?) {
        self.peer = peer
        self.publicTLS = publicTLS
        self.config = config
        self.threadPool = threadPool
        self.cpuPool = cpuPool
        self.pool = pool
        self.store = store
        self.state = state
        self.leadership = leadership
        self.metrics = metrics
        self.devices = devices
        self.verifier = verifier
        self.logger = logger
    }

    static func readKEK(path: String) throws -> KeyEncryptionKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NodeError(.wrongKEK, "cannot read the key-encryption key file kek_file=\(path) (missing or unreadable)")
        }
        do { return try KeyEncryptionKey(fileContents: String(decoding: data, as: UTF8.self)) } catch {
            throw NodeError(.wrongKEK, "kek_file=\(path): \(error.reason)")
        }
    }

    var api: APIServer {
        APIServer(config: config, state: state, store: store, devices: devices, leadership: leadership, metrics: metrics,
                  forwarder: peer.map { Forwarder(view: $0.view, client: $0.client) })
    }

    /// The peer listener: mutual TLS with the cluster CA (refused at the handshake otherwise); serves the
    /// replication routes and, for forwarded writes, the public routes.
    func peerApplication() -> (any Service)? {
        guard let peer else { return nil }
        let routes = PeerRoutes(endpoint: PeerEndpoint(config: config, state: state, log: store, view: peer.view, replicator: peer.replicator))
        do {
            return Application(router: api.peerRouter(routes),
                               server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(300))), tlsConfiguration: peer.serverTLS),
                               configuration: .init(address: .hostname(config.peerHost, port: config.peerPort), serverName: "sma-node-peer"),
                               logger: logger)
        } catch {
            logger.critical("peer listener cannot start", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The replication loop (gossip, anti-entropy, push), when the peer channel is configured.
    func replicationService() -> ReplicationService? {
        guard let peer else { return nil }
        return ReplicationService(view: peer.view, client: peer.client, replicator: peer.replicator, pushes: peer.pushes,
                                  state: state, leadership: leadership, config: config, logger: logger)
    }

    /// Background services: the lease keeper (leader-eligible) and the database log tailer.
    func backgroundServices() -> [any Service] {
        var services: [any Service] = [
            LogTailer(store: store, state: state, verifier: verifier, period: .milliseconds(Int64(config.logPollSeconds * 1000)), logger: logger),
            ValidationSampler(metrics: metrics),
        ]
        if let peerApp = peerApplication() { services.append(peerApp) }
        if let replication = replicationService() { services.append(replication) }
        if let devices {
            services.append(CRLKeeper(devices: devices, state: state, leadership: leadership, logger: logger))
        }
        if state.abuse.enabled {
            let interval = peer?.view.timing.gossipInterval ?? .seconds(1)
            services.append(AbuseService(monitor: state.abuse, state: state, leadership: leadership, devices: devices, metrics: metrics,
                                         interval: interval, logger: logger))
        }
        if let publicTLS {
            services.append(PublicTLSReloader(tls: publicTLS, metrics: metrics, logger: logger))
        }
        if config.role == .leaderEligible {
            services.append(LeaseKeeper(store: store, leadership: leadership, metrics: metrics, nodeID: config.nodeID,
                                        ttlSeconds: config.leaseTTLSeconds, logger: logger))
        }
        return services
    }

    /// The public application (HTTP or HTTPS).
    func application() -> some ApplicationProtocol {
        Application(router: api.router(),
                    server: .publicServer(tls: publicTLS),
                    configuration: .init(address: .hostname(config.publicHost, port: config.publicPort), serverName: "sma-node"),
                    onServerRunning: { [state, logger, config] _ in
                        // A leader-eligible node reads the authoritative database: loaded means caught up.
                        // Other nodes become ready when the replication loop has caught up with their peers.
                        if !config.peerEnabled || config.role == .leaderEligible { state.markReady() }
                        logger.notice("listening", metadata: ["public_url": "\(config.publicURL)"])
                    },
                    logger: logger)
    }

    func shutdown() async {
        peer?.pushes.finish()
        await peer?.client.shutdown()
        pool.close()
        try? await threadPool.shutdownGracefully()
        try? await cpuPool.shutdownGracefully()
    }
}
