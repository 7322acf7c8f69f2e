import SMATestSupport
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SwiftASN1
import X509

/// A request context that keeps the channel, to read the verified peer certificate.
struct PeerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// A live Hummingbird server on 127.0.0.1 with an OS-chosen port, for client tests.
enum TestServer {
    /// How long `/slow` waits before answering.
    static let slowDelay: Duration = .seconds(5)

    /// mTLS server configuration: presents `identity`, requires client certificates signed by `trustedCAPEM`.
    static func mutualTLS(identity: TestIdentity, trustedCAPEM: String) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(identity.certificatePEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem)
        let roots = try NIOSSLCertificate.fromPEMBytes(Array(trustedCAPEM.utf8))
        return TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key),
            trustRoots: .certificates(roots)
        )
    }

    /// Runs the server (TLS when `tls` is set) for the duration of `body`, which gets the bound port.
    static func withServer<Result: Sendable>(
        tls: TLSConfiguration?,
        _ body: @Sendable (Int) async throws -> Result
    ) async throws -> Result {
        var logger = Logger(label: "replication-tests.server")
        logger.logLevel = .critical
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: makeRouter(),
            server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await app.runService(gracefulShutdownSignals: [])
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port != 0 else {
                group.cancelAll()
                throw TestServerError.noPort
            }
            do {
                let result = try await body(port)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    /// A port on 127.0.0.1 that nothing listens on (bound by the OS, then closed).
    static func closedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }

    private static func makeRouter() -> Router<PeerRequestContext> {
        let router = Router(context: PeerRequestContext.self)
        // Echoes method, body and the X-Test header.
        let echo: @Sendable (Request, PeerRequestContext) async throws -> Response = { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers = HTTPFields()
            headers[.init("X-Echo-Method")!] = request.method.rawValue
            headers[.init("X-Echo-Test")!] = request.headers[.init("X-Test")!] ?? "<none>"
            headers[.init("X-Echo-Content-Type")!] = request.headers[.contentType] ?? "<none>"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        }
        router.get("echo", use: echo)
        router.post("echo", use: echo)
        router.put("echo", use: echo)
        router.delete("echo", use: echo)
        // Reports the verified client certificate's subject.
        router.get("whoami") { _, context -> String in
            guard let certificate = try await context.channel.nioSSL_peerCertificate().get() else {
                return "<no certificate>"
            }
            return String(describing: try Certificate(derEncoded: certificate.toDERBytes()).subject)
        }
        // Reports the client's IP address as the server sees it (the connection's source address).
        router.get("remote") { _, context -> String in
            context.channel.remoteAddress?.ipAddress ?? "<unknown>"
        }
        router.get("slow") { _, _ -> String in
            try await Task.sleep(for: slowDelay)
            return "late"
        }
        // `bytes` bytes of 0x61, with Content-Length, or chunked in 4 KiB pieces when `chunked=1`.
        router.get("large") { request, _ -> Response in
            let count = request.uri.queryParameters.get("bytes", as: Int.self) ?? 65_536
            let chunked = request.uri.queryParameters.get("chunked") == "1"
            guard chunked else {
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: 0x61, count: count)))
            }
            return Response(status: .ok, body: .init { writer in
                var remaining = count
                while remaining > 0 {
                    let size = min(4096, remaining)
                    try await writer.write(ByteBuffer(repeating: 0x61, count: size))
                    remaining -= size
                }
                try await writer.finish(nil)
            })
        }
        return router
    }
}

enum TestServerError: Error {
    case noPort
}
