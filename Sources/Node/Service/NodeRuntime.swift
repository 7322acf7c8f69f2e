import Core
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SMAPostgres
import X509
import SwiftASN1

/// A running node's parts, built from its configuration: database pool, in-memory state
/// loaded from PostgreSQL, the leader's writer (leader-eligible nodes), the API and background services.
final class NodeRuntime: Sendable {
    let config: NodeConfiguration
    let threadPool: NIOThreadPool
    let pool: PostgresPool
    let state: NodeState
    let leadership: Leadership
    let metrics: NodeMetrics
    let devices: DeviceService?
    let verifier: LogVerifier
    let logger: Logger

    /// Opens the database, checks the KEK, migrates, loads memory; fails with a message that names the problem.
    static func start(config: NodeConfiguration, logger: Logger) async throws -> NodeRuntime {
        let kek = try readKEK(path: config.kekFile)
        let threadPool = NIOThreadPool(numberOfThreads: config.databasePoolSize + 2)
        threadPool.start()
        let pool = PostgresPool(conninfo: config.databaseURL, size: config.databasePoolSize, threadPool: threadPool, logger: logger)
        do {
            return try await start(config: config, kek: kek, threadPool: threadPool, pool: pool, logger: logger)
        } catch {
            pool.close()
            try? await threadPool.shutdownGracefully()
            throw error
        }
    }

    private static func start(config: NodeConfiguration, kek: KeyEncryptionKey, threadPool: NIOThreadPool, pool: PostgresPool, logger: Logger) async throws -> NodeRuntime {
        let metrics = NodeMetrics()
        let state = NodeState(kek: kek, metrics: metrics, logger: logger)
        let clock = ContinuousClock()
        let t0 = clock.now
        try await pool.withConnection { c in
            _ = try Migrator.migrate(c, migrations: Schema.migrations, logger: logger)
            try Store.checkKEK(c, kek)
        }
        // Derive every key (CPU) while the devices stream in from PostgreSQL (I/O + decoding).
        let sealedTables = try await pool.withConnection { c in try Store.keyTables(c) }
        let masterKeys = try state.unseal(sealedTables)
        async let derived = (keys: masterKeys, tables: KeyTables(masterKeys: NodeState.dense(masterKeys)))
        let snapshot = try await pool.withConnection { c in
            try Store.snapshot(c) { n in logger.info("loading devices", metadata: ["devices.loaded": "\(n)"]) }
        }
        let t1 = clock.now
        try state.load(snapshot, derived: await derived)
        guard let rawLogKey = snapshot.logPublicKey else {
            throw NodeError(.notInitialized, "database has no log verification key: run `sma-node init`")
        }
        let verifier = try LogVerifier(rawPublicKey: rawLogKey)
        logger.notice("state loaded", metadata: [
            "devices": "\(snapshot.index.count)", "key_tables": "\(snapshot.tables.count)", "log.seq": "\(snapshot.head)",
            "read_seconds": "\(seconds(t0.duration(to: t1)))", "total_seconds": "\(seconds(t0.duration(to: clock.now)))",
        ])

        var devices: DeviceService?
        let runtimeLeadership = Leadership()
        if config.role == .leaderEligible {
            let (signer, authority) = try await pool.withConnection { c in try unsealWriterKeys(c, kek: kek) }
            let writer = LogWriter(pool: pool, signer: signer, state: state, leadership: runtimeLeadership, logger: logger)
            devices = DeviceService(state: state, writer: writer, authority: authority, manufacturer: config.manufacturer,
                                    maEndpoint: config.effectiveMAEndpoint, metrics: metrics)
        }
        return NodeRuntime(config: config, threadPool: threadPool, pool: pool, state: state, leadership: runtimeLeadership,
                           metrics: metrics, devices: devices, verifier: verifier, logger: logger)
    }

    private init(config: NodeConfiguration, threadPool: NIOThreadPool, pool: PostgresPool, state: NodeState, leadership: Leadership,
                 metrics: NodeMetrics, devices: DeviceService?, verifier: LogVerifier, logger: Logger) {
        self.config = config
        self.threadPool = threadPool
        self.pool = pool
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

    /// The log-signing key and the CA (with its intermediate key), unsealed with the KEK.
    static func unsealWriterKeys(_ c: PostgresConnection, kek: KeyEncryptionKey) throws -> (LogSigner, CertificateAuthority) {
        guard let sealedLog = try Store.sealedSecret(c, Store.SecretName.logSigningKey),
              let sealedInter = try Store.sealedSecret(c, Store.SecretName.intermediateCAKey),
              let certs = try c.query("SELECT root_pem, intermediate_pem FROM authority WHERE id = 1").first else {
            throw NodeError(.notInitialized, "database lacks the log-signing key or CA: run `sma-node init`")
        }
        let signer = LogSigner(privateKey: try Curve25519.Signing.PrivateKey(
            rawRepresentation: try kek.open(sealedLog, label: Store.SecretName.logSigningKey)))
        let interKey = try P256.Signing.PrivateKey(rawRepresentation: try kek.open(sealedInter, label: Store.SecretName.intermediateCAKey))
        let authority = try CertificateAuthority(root: try Certificate(pemEncoded: try certs.decode(0, as: String.self)),
                                                 intermediate: try Certificate(pemEncoded: try certs.decode(1, as: String.self)),
                                                 intermediateKey: interKey)
        return (signer, authority)
    }

    var api: APIServer {
        APIServer(config: config, state: state, pool: pool, devices: devices, leadership: leadership, metrics: metrics)
    }

    /// Background services: the lease keeper (leader-eligible) and the database log tailer.
    func backgroundServices() -> [any Service] {
        var services: [any Service] = [
            LogTailer(pool: pool, state: state, verifier: verifier, period: .milliseconds(Int64(config.logPollSeconds * 1000)), logger: logger)
        ]
        if config.role == .leaderEligible {
            services.append(LeaseKeeper(pool: pool, leadership: leadership, metrics: metrics, nodeID: config.nodeID,
                                        ttlSeconds: config.leaseTTLSeconds, logger: logger))
        }
        return services
    }

    /// The public HTTP application.
    func application() -> some ApplicationProtocol {
        Application(router: api.router(),
                    server: .http1(configuration: .init(idleTimeout: .seconds(75))),
                    configuration: .init(address: .hostname(config.publicHost, port: config.publicPort), serverName: "sma-node"),
                    onServerRunning: { [state, logger, config] _ in
                        state.markReady()
                        logger.notice("listening", metadata: ["public_url": "http://\(config.publicHost):\(config.publicPort)"])
                    },
                    logger: logger)
    }

    func shutdown() async {
        pool.close()
        try? await threadPool.shutdownGracefully()
    }
}

func seconds(_ d: Duration) -> String {
    let s = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    return String(format: "%.3f", s)
}
