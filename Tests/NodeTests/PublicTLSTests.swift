import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOSSL
import SMATestSupport
import Testing
@testable import API
@testable import Core
@testable import Node
@testable import NodeServices

/// HTTPS on the public port (docs/ARCHITECTURE.md §3.3.1): TLS 1.2+, HSTS, reload without dropping connections,
/// client certificates as validator credentials.
@Suite struct PublicTLSTests {
    /// Certificates and files of one test: the public CA and the node's certificate, the aggregators' client CA and
    /// one of its clients, and a client of a foreign CA.
    struct Fixture {
        let dir: String
        let ca: TestCertificateAuthority
        let clientCA: TestCertificateAuthority
        let client: TestIdentity
        let foreignClient: TestIdentity

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("sma-tls-\(UInt64.random(in: 0 ... .max))").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            ca = try TestCertificateAuthority(commonName: "SMA test public CA")
            clientCA = try TestCertificateAuthority(commonName: "SMA test aggregators CA")
            client = try clientCA.issue(commonName: "aggregator-eu")
            foreignClient = try TestCertificateAuthority(commonName: "Foreign CA").issue(commonName: "aggregator-eu")
            try issueServerCertificate()
            try clientCA.certificatePEM.write(toFile: "\(dir)/clients-ca.pem", atomically: true, encoding: .utf8)
        }

        /// Writes a new server certificate and key for 127.0.0.1 (what an operator does before SIGHUP).
        func issueServerCertificate() throws {
            let server = try ca.issue(commonName: "sma-node", ipAddresses: [[127, 0, 0, 1]])
            try server.certificatePEM.write(toFile: "\(dir)/server.pem", atomically: true, encoding: .utf8)
            try server.privateKeyPEM.write(toFile: "\(dir)/server.key", atomically: true, encoding: .utf8)
        }

        func configure(_ config: inout NodeConfiguration, clientAuth: PublicClientAuth? = nil) {
            config.publicTLSCertFile = "\(dir)/server.pem"
            config.publicTLSKeyFile = "\(dir)/server.key"
            if clientAuth != nil { config.publicTLSClientCAFile = "\(dir)/clients-ca.pem" }
            config.publicTLSClientAuth = clientAuth
            config.hstsMaxAgeSeconds = 600
        }

        func tls(identity: TestIdentity? = nil, minimum: TLSVersion = .tlsv12, maximum: TLSVersion = .tlsv13) throws -> TLSConfiguration {
            try PublicTLSClient.tls(trusting: ca.certificatePEM, identity: identity, minimum: minimum, maximum: maximum)
        }

        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Runs the node's public application (as `serve` builds it) on an ephemeral port for `body`.
    static func serving<T: Sendable>(_ node: TestNode, _ body: @escaping @Sendable (Int) async throws -> T) async throws -> T {
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: node.runtime.api.router(), server: .publicServer(tls: node.runtime.publicTLS),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
                              logger: node.runtime.logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []); return nil }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let result = try await body(port)
            group.cancelAll()
            return result
        }
    }

    /// True when a connection with `tls` gets no HTTP answer (refused at the handshake or closed).
    static func refused(port: Int, tls: TLSConfiguration?) async -> Bool {
        do {
            _ = try await PublicTLSClient.with(port: port, tls: tls) { try await $0.request("GET", "/healthz") }
            return false
        } catch {
            return true
        }
    }

    @Test func httpsAnswersWithHSTSAndRefusesPlainHTTPAndTLS11() async throws {
        let fx = try Fixture()
        defer { fx.remove() }
        try await TestNode.with(tables: 3, configure: { fx.configure(&$0) }) { node in
            #expect(node.runtime.config.effectiveMAEndpoint.hasPrefix("https://"))
            try await Self.serving(node) { port in
                try await PublicTLSClient.with(port: port, tls: try fx.tls()) { (c: PublicTLSClient) async throws in
                    let health = try await c.request("GET", "/healthz")
                    #expect(health.status == 200)
                    #expect(health.headers["strict-transport-security"] == "max-age=600")
                    let refused = try await c.request("POST", "/validate", body: "{}")
                    #expect(refused.status == 401)
                    #expect(refused.headers["strict-transport-security"] == "max-age=600")
                }
                // The same client offering only TLS 1.0-1.1 is refused; offering 1.2 it is served (the control).
                #expect(await Self.refused(port: port, tls: try fx.tls(minimum: .tlsv1, maximum: .tlsv11)))
                #expect(await !Self.refused(port: port, tls: try fx.tls(minimum: .tlsv12, maximum: .tlsv12)))
                // Plain HTTP to the HTTPS port gets no HTTP answer.
                #expect(await Self.refused(port: port, tls: nil))
                // Both refusals happened at the server's handshake (counted there).
                let metrics = try await PublicTLSClient.with(port: port, tls: try fx.tls()) { c in try await c.request("GET", "/metrics").body }
                #expect(metrics.contains("sma_public_tls_handshake_failures_total 2"))
            }
        }
    }

    @Test func reloadSwapsTheCertificateForNewConnectionsWhileAnOpenConnectionContinues() async throws {
        let fx = try Fixture()
        defer { fx.remove() }
        try await TestNode.with(tables: 3, configure: { fx.configure(&$0) }) { node in
            let tls = try #require(node.runtime.publicTLS)
            let reloader = PublicTLSReloader(tls: tls, metrics: node.runtime.metrics, logger: node.runtime.logger)
            try await Self.serving(node) { port in
                let first = tls.certificate.serial
                try await PublicTLSClient.with(port: port, tls: try fx.tls()) { (open: PublicTLSClient) async throws in
                    #expect(try await open.request("GET", "/healthz").status == 200)
                    #expect(try await open.serverCertificateSerial() == first)

                    // A broken key file: the reload fails, naming the file, and the old certificate stays.
                    try "not a key".write(toFile: "\(fx.dir)/server.key", atomically: true, encoding: .utf8)
                    #expect(throws: ConfigurationError(key: "public_tls_key_file", problem: "")) { try tls.reload() }
                    reloader.reload()
                    #expect(tls.certificate.serial == first)

                    try fx.issueServerCertificate()
                    reloader.reload()
                    let second = tls.certificate.serial
                    #expect(second != first)
                    try await PublicTLSClient.with(port: port, tls: try fx.tls()) { (fresh: PublicTLSClient) async throws in
                        #expect(try await fresh.request("GET", "/healthz").status == 200)
                        #expect(try await fresh.serverCertificateSerial() == second)
                    }
                    // The connection opened before the reload still answers, on its original certificate.
                    #expect(try await open.request("GET", "/healthz").status == 200)
                    #expect(try await open.serverCertificateSerial() == first)
                    let metrics = try await open.request("GET", "/metrics").body
                    #expect(metrics.contains("sma_public_tls_reloads_total{result=\"ok\"} 1"))
                    #expect(metrics.contains("sma_public_tls_reloads_total{result=\"failed\"} 1"))
                }
            }
        }
    }

    @Test func clientCertificateFromTheClientCAIsAValidatorAndNothingMore() async throws {
        let fx = try Fixture()
        defer { fx.remove() }
        try await TestNode.with(tables: 3, configure: { fx.configure(&$0, clientAuth: .optional) }) { node in
            let token = validationBody(["ciphertext": String(repeating: "0", count: 64), "auth_tag": String(repeating: "0", count: 32),
                                        "nonce": String(repeating: "0", count: 24), "table_id": 0, "key_index": 0])
            let body = String(buffer: token)
            let admin = "Bearer \(node.keys[.admin]!)"
            try await Self.serving(node) { port in
                try await PublicTLSClient.with(port: port, tls: try fx.tls(identity: fx.client)) { (c: PublicTLSClient) async throws in
                    let validated = try await c.request("POST", "/validate", headers: ["Content-Type": "application/json"], body: body)
                    #expect(validated.status == 200)
                    #expect(validated.body.contains("\"valid\":false"))
                    #expect(try await c.request("GET", "/api/v1/devices").status == 403)
                    #expect(try await c.request("GET", "/stats").status == 403)
                    #expect(try await c.request("POST", "/api/v1/devices/provision", headers: ["Content-Type": "application/json"],
                                                body: #"{"device_serial":"X","device_family":"Y"}"#).status == 403)
                    // An API key on the same connection decides instead of the certificate.
                    #expect(try await c.request("GET", "/api/v1/devices", headers: ["Authorization": admin]).status == 200)
                }
                // Without a certificate (mode optional): API keys as usual.
                try await PublicTLSClient.with(port: port, tls: try fx.tls()) { (c: PublicTLSClient) async throws in
                    #expect(try await c.request("POST", "/validate", body: body).status == 401)
                    #expect(try await c.request("GET", "/api/v1/devices", headers: ["Authorization": admin]).status == 200)
                }
                // A certificate from another CA with the same name is refused at the handshake.
                #expect(await Self.refused(port: port, tls: try fx.tls(identity: fx.foreignClient)))
                let metrics = try await PublicTLSClient.with(port: port, tls: try fx.tls()) { c in try await c.request("GET", "/metrics").body }
                #expect(metrics.contains("sma_public_tls_handshake_failures_total 1"))
            }
        }
    }

    @Test func startRefusesMissingOrMismatchedFilesNamingThem() throws {
        let fx = try Fixture()
        defer { fx.remove() }
        var config = NodeConfiguration()
        fx.configure(&config)
        _ = try PublicTLSContext(config: config)
        let other = try fx.ca.issue(commonName: "other")
        try other.privateKeyPEM.write(toFile: "\(fx.dir)/other.key", atomically: true, encoding: .utf8)
        config.publicTLSKeyFile = "\(fx.dir)/other.key"
        do { _ = try PublicTLSContext(config: config); Issue.record("a key of another certificate was accepted") } catch let e as ConfigurationError {
            #expect(e.key == "public_tls_key_file")
            #expect(e.problem.contains("\(fx.dir)/other.key") && e.problem.contains("does not match"))
        }
        config.publicTLSKeyFile = "\(fx.dir)/server.key"
        config.publicTLSCertFile = "\(fx.dir)/missing.pem"
        do { _ = try PublicTLSContext(config: config); Issue.record("a missing certificate file was accepted") } catch let e as ConfigurationError {
            #expect(e.key == "public_tls_cert_file")
            #expect(e.problem.contains("\(fx.dir)/missing.pem"))
        }
        var partial = NodeConfiguration()
        partial.databaseURL = "x"
        partial.kekFile = "x"
        partial.publicTLSClientCAFile = "\(fx.dir)/clients-ca.pem"
        #expect(throws: ConfigurationError(key: "public_tls_client_ca_file", problem: "")) { try partial.validate() }
    }
}
