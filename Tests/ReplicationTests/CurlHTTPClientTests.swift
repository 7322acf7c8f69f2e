import SMATestSupport
import NIOPosix
import NIOSSL
@testable import Replication
import Testing

@Suite struct CurlHTTPClientTests {
    let cluster: TestCluster

    init() throws {
        cluster = try TestCluster()
    }

    private var serverTLS: TLSConfiguration {
        get throws { try TestServer.mutualTLS(identity: cluster.server, trustedCAPEM: cluster.ca.certificatePEM) }
    }

    // MARK: mTLS round trips

    @Test func mutualTLSRoundTripCarriesMethodBodyAndHeaders() async throws {
        try await TestServer.withServer(tls: serverTLS) { port in
            try await withClient(tls: cluster.clientTLS) { client in
                let body = (0..<1000).map { UInt8(truncatingIfNeeded: $0) }  // binary, with NULs
                let response = try await client.send(
                    method: "PUT",
                    url: "https://127.0.0.1:\(port)/echo",
                    headers: [("X-Test", "value with spaces"), ("Content-Type", "application/octet-stream")],
                    body: body
                )
                #expect(response.status == 200)
                #expect(response.body == body)
                #expect(response.header("x-echo-method") == "PUT")
                #expect(response.header("X-ECHO-TEST") == "value with spaces")
                #expect(response.header("X-Echo-Content-Type") == "application/octet-stream")
                #expect(response.header("content-length") == "1000")

                let post = try await client.send(method: "POST", url: "https://127.0.0.1:\(port)/echo", body: Array("{}".utf8))
                #expect(post.header("X-Echo-Method") == "POST")
                #expect(post.header("X-Echo-Content-Type") == "<none>")  // not curl's form default
                #expect(post.body == Array("{}".utf8))

                let get = try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/echo")
                #expect(get.header("X-Echo-Method") == "GET")
                #expect(get.header("X-Echo-Test") == "<none>")
                #expect(get.body.isEmpty)

                let delete = try await client.send(method: "DELETE", url: "https://127.0.0.1:\(port)/echo")
                #expect(delete.header("X-Echo-Method") == "DELETE")

                let missing = try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/nothing-here")
                #expect(missing.status == 404)
            }
        }
    }

    @Test func serverSeesTheClientCertificateSubject() async throws {
        try await TestServer.withServer(tls: serverTLS) { port in
            try await withClient(tls: cluster.clientTLS) { client in
                let response = try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/whoami")
                #expect(response.status == 200)
                #expect(String(decoding: response.body, as: UTF8.self).contains("CN=node-a"))
            }
        }
    }

    @Test func sequentialRequestsReuseOneConnection() async throws {
        try await TestServer.withServer(tls: serverTLS) { port in
            try await withClient(tls: cluster.clientTLS) { client in
                for index in 0..<10 {
                    let response = try await client.send(
                        method: "POST",
                        url: "https://127.0.0.1:\(port)/echo",
                        body: Array("request \(index)".utf8)
                    )
                    #expect(response.status == 200)
                    #expect(response.body == Array("request \(index)".utf8))
                }
                #expect(client.connectionsOpened == 1)
            }
        }
    }

    @Test func twentyConcurrentRequestsSucceed() async throws {
        try await TestServer.withServer(tls: serverTLS) { port in
            try await withClient(tls: cluster.clientTLS, threads: 4) { client in
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    for index in 0..<20 {
                        group.addTask {
                            let body = Array("concurrent \(index)".utf8)
                            let response = try await client.send(method: "POST", url: "https://127.0.0.1:\(port)/echo", body: body)
                            return response.status == 200 && response.body == body
                        }
                    }
                    var succeeded = 0
                    for try await ok in group where ok {
                        succeeded += 1
                    }
                    #expect(succeeded == 20)
                }
                // Handles (and their connections) are pooled: at most one connection per thread.
                #expect(client.connectionsOpened <= 4)
            }
        }
    }

    // MARK: TLS refusals

    @Test func clientWithoutCertificateIsRefused() async throws {
        try await TestServer.withServer(tls: serverTLS) { port in
            let tls = HTTPClientTLS(certificateChainPEM: "", privateKeyPEM: "", trustRootsPEM: cluster.ca.certificatePEM)
            try await withClient(tls: tls) { client in
                let error = await #expect(throws: HTTPClientError.self) {
                    try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/whoami")
                }
                #expect(error?.code == .tlsHandshakeFailed, "\(String(describing: error))")
            }
        }
    }

    @Test func clientCertificateFromAnotherCAIsRefused() async throws {
        let strangerCA = try TestCertificateAuthority(commonName: "Stranger CA")
        let stranger = try strangerCA.issue(commonName: "intruder")
        try await TestServer.withServer(tls: serverTLS) { port in
            let tls = HTTPClientTLS(
                certificateChainPEM: stranger.certificatePEM,
                privateKeyPEM: stranger.privateKeyPEM,
                trustRootsPEM: cluster.ca.certificatePEM
            )
            try await withClient(tls: tls) { client in
                let error = await #expect(throws: HTTPClientError.self) {
                    try await client.send(method: "POST", url: "https://127.0.0.1:\(port)/echo", body: [1, 2, 3])
                }
                #expect(error?.code == .tlsHandshakeFailed, "\(String(describing: error))")
            }
        }
    }

    @Test func serverCertificateFromAnotherCAIsRefused() async throws {
        let strangerCA = try TestCertificateAuthority(commonName: "Stranger CA")
        let impostor = try strangerCA.issue(commonName: "impostor", ipAddresses: [TestCluster.loopback])
        let tls = try TestServer.mutualTLS(identity: impostor, trustedCAPEM: cluster.ca.certificatePEM)
        try await TestServer.withServer(tls: tls) { port in
            try await withClient(tls: cluster.clientTLS) { client in
                let error = await #expect(throws: HTTPClientError.self) {
                    try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/whoami")
                }
                #expect(error?.code == .tlsHandshakeFailed, "\(String(describing: error))")
                #expect(error?.curlCode == 60)
            }
        }
    }

    @Test func serverCertificateWithoutTheAddressIsRefused() async throws {
        let wrongName = try cluster.ca.issue(commonName: "127.0.0.1", dnsNames: ["node-b.example"])
        let tls = try TestServer.mutualTLS(identity: wrongName, trustedCAPEM: cluster.ca.certificatePEM)
        try await TestServer.withServer(tls: tls) { port in
            try await withClient(tls: cluster.clientTLS) { client in
                let error = await #expect(throws: HTTPClientError.self) {
                    try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/whoami")
                }
                #expect(error?.code == .tlsHandshakeFailed, "\(String(describing: error))")
            }
        }
    }

    @Test func clientWithTLSMaterialRefusesPlainHTTP() async throws {
        try await withClient(tls: cluster.clientTLS) { client in
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.send(method: "GET", url: "http://127.0.0.1:1/echo")
            }
            #expect(error?.code == .invalidRequest)
        }
    }

    // MARK: Transport failures

    @Test func closedPortFailsToConnectQuickly() async throws {
        let port = try await TestServer.closedPort()
        try await withClient(tls: nil) { client in
            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.send(method: "GET", url: "http://127.0.0.1:\(port)/echo")
            }
            #expect(error?.code == .connectFailed, "\(String(describing: error))")
            #expect(error?.curlCode == 7)
            // Refused at once, not after the request timeout (10 s); generous for a loaded CI machine.
            #expect(clock.now - start < .seconds(5))
        }
    }

    @Test func slowResponseTimesOutWithoutLeakingHeaders() async throws {
        try await TestServer.withServer(tls: serverTLS) { port in
            try await withClient(tls: cluster.clientTLS, requestTimeout: .milliseconds(300)) { client in
                let clock = ContinuousClock()
                let start = clock.now
                let error = await #expect(throws: HTTPClientError.self) {
                    try await client.send(
                        method: "GET",
                        url: "https://127.0.0.1:\(port)/slow",
                        headers: [("Authorization", "Bearer s3cr3t-token")]
                    )
                }
                #expect(error?.code == .timeout, "\(String(describing: error))")
                #expect(clock.now - start < .seconds(2))
                #expect(error.map { !String(describing: $0).contains("s3cr3t") } ?? false)
            }
        }
    }

    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        try await TestServer.withServer(tls: serverTLS) { port in
            try await withClient(tls: cluster.clientTLS) { client in
                let clock = ContinuousClock()
                let start = clock.now
                let request = Task {
                    try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/slow")
                }
                try await Task.sleep(for: .milliseconds(200))
                request.cancel()
                let result = await request.result
                #expect(throws: HTTPClientError.cancelled) { try result.get() }
                #expect(clock.now - start < .seconds(3))
            }
        }
    }

    @Test func responseLargerThanLimitIsRefused() async throws {
        try await TestServer.withServer(tls: serverTLS) { port in
            try await withClient(tls: cluster.clientTLS, maxResponseBytes: 16_384) { client in
                let atLimit = try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/large?bytes=16384")
                #expect(atLimit.body.count == 16_384)
                let chunkedAtLimit = try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/large?bytes=16384&chunked=1")
                #expect(chunkedAtLimit.body.count == 16_384)

                // Content-Length known up front: curl refuses before reading the body.
                let declared = await #expect(throws: HTTPClientError.self) {
                    try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/large?bytes=65536")
                }
                #expect(declared?.code == .responseTooLarge, "\(String(describing: declared))")
                #expect(declared?.curlCode == 63)  // CURLE_FILESIZE_EXCEEDED
                // Chunked: the write callback stops the transfer at the cap.
                let streamed = await #expect(throws: HTTPClientError.self) {
                    try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/large?bytes=65536&chunked=1")
                }
                #expect(streamed?.code == .responseTooLarge, "\(String(describing: streamed))")
                #expect(streamed?.curlCode == 23)  // CURLE_WRITE_ERROR from the capped write callback

                // The handle stays usable after an aborted transfer.
                let after = try await client.send(method: "GET", url: "https://127.0.0.1:\(port)/large?bytes=10")
                #expect(after.body.count == 10)
            }
        }
    }

    // MARK: Plain HTTP and request validation

    @Test func plainHTTPWorksWithoutTLS() async throws {
        try await TestServer.withServer(tls: nil) { port in
            try await withClient(tls: nil) { client in
                let response = try await client.send(
                    method: "POST",
                    url: "http://127.0.0.1:\(port)/echo",
                    headers: [("X-Test", "plain")],
                    body: Array("hello".utf8)
                )
                #expect(response.status == 200)
                #expect(response.body == Array("hello".utf8))
                #expect(response.header("X-Echo-Test") == "plain")
            }
        }
    }

    @Test("outgoing connections leave from the configured source address")
    func connectionsBindTheSourceAddress() async throws {
        try await TestServer.withServer(tls: nil) { port in
            // Every 127.0.0.0/8 address is local on Linux: the server on 127.0.0.1 sees the chosen one.
            try await withClient(tls: nil, sourceAddress: "127.0.0.7") { client in
                for _ in 0..<3 {
                    let response = try await client.send(method: "GET", url: "http://127.0.0.1:\(port)/remote")
                    #expect(response.status == 200)
                    #expect(String(decoding: response.body, as: UTF8.self) == "127.0.0.7")
                }
            }
            try await withClient(tls: nil) { client in
                let response = try await client.send(method: "GET", url: "http://127.0.0.1:\(port)/remote")
                #expect(String(decoding: response.body, as: UTF8.self) == "127.0.0.1")
            }
        }
    }

    @Test("a source address that is not local fails the request instead of using another one")
    func foreignSourceAddressFails() async throws {
        try await TestServer.withServer(tls: nil) { port in
            try await withClient(tls: nil, sourceAddress: "192.0.2.1") { client in  // TEST-NET-1, never local
                await #expect(throws: HTTPClientError.self) {
                    try await client.send(method: "GET", url: "http://127.0.0.1:\(port)/remote")
                }
            }
        }
    }

    @Test func headerInjectionIsRejectedBeforeSending() async throws {
        try await withClient(tls: nil) { client in
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.send(method: "GET", url: "http://127.0.0.1:1/", headers: [("X-Test", "a\r\nInjected: yes")])
            }
            #expect(error?.code == .invalidRequest)
            #expect(error.map { !String(describing: $0).contains("Injected") } ?? false)
            await #expect(throws: HTTPClientError.invalidRequestExample) {
                try await client.send(method: "GET /x HTTP/1.1", url: "http://127.0.0.1:1/")
            }
        }
    }

    @Test func shutDownClientRefusesRequests() async throws {
        try await withClient(tls: nil) { client in
            client.shutdown()
            await #expect(throws: HTTPClientError.cancelled) {
                try await client.send(method: "GET", url: "http://127.0.0.1:1/")
            }
        }
    }

    @Test func durationsBecomeWholeMillisecondsOfAtLeastOne() {
        #expect(CurlTransferOptions.milliseconds(.seconds(2)) == 2000)
        #expect(CurlTransferOptions.milliseconds(.microseconds(1)) == 1)
        #expect(CurlTransferOptions.milliseconds(.zero) == 1)
        #expect(CurlTransferOptions.milliseconds(.milliseconds(1500)) == 1500)
        #expect(CurlTransferOptions.milliseconds(.nanoseconds(1_000_001)) == 2)
    }

    // MARK: Helpers

    /// Runs `body` with a client on its own thread pool, then shuts both down.
    private func withClient<Result>(
        tls: HTTPClientTLS?,
        requestTimeout: Duration = .seconds(5),
        maxResponseBytes: Int = 1 << 20,
        threads: Int = 2,
        sourceAddress: String? = nil,
        _ body: (CurlHTTPClient) async throws -> Result
    ) async throws -> Result {
        let threadPool = NIOThreadPool(numberOfThreads: threads)
        threadPool.start()
        let client = CurlHTTPClient(
            tls: tls,
            connectTimeout: .seconds(2),
            requestTimeout: requestTimeout,
            maxResponseBytes: maxResponseBytes,
            sourceAddress: sourceAddress,
            threadPool: threadPool
        )
        let result: Swift.Result<Result, any Error>
        do {
            result = .success(try await body(client))
        } catch {
            result = .failure(error)
        }
        client.shutdown()
        try await threadPool.shutdownGracefully()
        return try result.get()
    }
}

extension HTTPClientError {
    /// Errors compare by code, so one value stands for every `.cancelled` error.
    static let cancelled = HTTPClientError(code: .cancelled, message: "")
    /// Stands for every `.invalidRequest` error.
    static let invalidRequestExample = HTTPClientError(code: .invalidRequest, message: "")
}
