public import NIOPosix
internal import Synchronization

/// An HTTP/1.1 client on libcurl. Blocking curl calls run on an NIOThreadPool (runIfActive), never on the cooperative pool; easy handles are reused (keep-alive) from a small pool, never used by two threads at once.
///
/// With TLS material every request is https with mutual TLS: the server certificate must chain
/// to `trustRootsPEM` and match the URL's host or IP (CURLOPT_SSL_VERIFYHOST=2); http:// URLs are
/// refused. Without it, http:// and https:// (system trust store) are allowed.
public final class CurlHTTPClient: Sendable {
    private struct HandlePool {
        var idle: [CurlEasyHandle] = []
        var isShutDown = false
    }

    private let options: CurlTransferOptions
    private let threadPool: NIOThreadPool
    private let maxIdleHandles: Int
    private let pool = Mutex(HandlePool())
    private let connectionCounter = Atomic<Int>(0)

    /// Creates a client; calls `Curl.globalInit()`.
    ///
    /// - Parameters:
    ///   - tls: client certificate, key and trusted roots; nil for plain http.
    ///   - connectTimeout: limit for TCP connect plus TLS handshake.
    ///   - requestTimeout: limit for the whole request, connect included.
    ///   - maxResponseBytes: responses with a larger body fail with `.responseTooLarge`.
    ///   - maxIdleHandles: easy handles (each with its own keep-alive connections) kept between requests.
    ///   - sourceAddress: local IP address every outgoing connection binds to (CURLOPT_INTERFACE "host!<address>"),
    ///     e.g. the node's own peer address; nil lets the system choose. A connection fails when the address is not local.
    ///   - threadPool: a started pool on which the blocking curl calls run; concurrency is bounded by its thread count.
    public init(
        tls: HTTPClientTLS?,
        connectTimeout: Duration = .seconds(2),
        requestTimeout: Duration = .seconds(10),
        maxResponseBytes: Int = 64 << 20,
        maxIdleHandles: Int = 8,
        sourceAddress: String? = nil,
        threadPool: NIOThreadPool
    ) {
        precondition(maxResponseBytes >= 0, "maxResponseBytes must not be negative")
        precondition(maxIdleHandles >= 0, "maxIdleHandles must not be negative")
        Curl.globalInit()
        self.options = CurlTransferOptions(
            tls: tls,
            connectTimeout: connectTimeout,
            requestTimeout: requestTimeout,
            maxResponseBytes: maxResponseBytes,
            sourceAddress: sourceAddress
        )
        self.maxIdleHandles = maxIdleHandles
        self.threadPool = threadPool
    }

    /// Sends one request and returns the whole response; any HTTP status is a response, not an error.
    ///
    /// Cancelling the calling task aborts the transfer within about a second (curl's progress callback).
    /// - Parameters:
    ///   - method: HTTP method token, for example `GET` or `POST`.
    ///   - url: absolute URL; https:// only when the client has TLS material.
    ///   - headers: header fields to send; values must not contain CR, LF or NUL.
    ///   - body: request body (sent with Content-Length); nil for none.
    ///   - pinnedPublicKey: `sha256//<base64>` of the one server key accepted (CURLOPT_PINNEDPUBLICKEY), on top of
    ///     the certificate checks; nil for none.
    public func send(
        method: String,
        url: String,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil,
        pinnedPublicKey: String? = nil
    ) async throws(HTTPClientError) -> HTTPClientResponse {
        var checked = try CurlRequest(method: method, url: url, headers: headers, body: body, httpsOnly: options.tls != nil)
        checked.pinnedPublicKey = pinnedPublicKey
        let request = checked
        guard !Task.isCancelled else {
            throw HTTPClientError(code: .cancelled, message: "task cancelled before the request started")
        }
        let options = self.options
        let cancellation = CurlCancellation()
        let outcome: CurlOutcome
        do {
            outcome = try await withTaskCancellationHandler {
                try await threadPool.runIfActive {
                    // Checked out on the pool thread: at most one handle per thread is busy.
                    let handle = try self.checkOut()
                    defer { self.checkIn(handle) }
                    return handle.perform(request, options: options, cancellation: cancellation)
                }
            } onCancel: {
                cancellation.cancel()
            }
        } catch let error as HTTPClientError {
            throw error
        } catch is CancellationError {
            throw HTTPClientError(code: .cancelled, message: "task cancelled before the request started")
        } catch {
            throw HTTPClientError(code: .cancelled, message: "thread pool is not running (\(type(of: error)))")
        }
        connectionCounter.add(outcome.newConnections, ordering: .relaxed)
        return try outcome.result.get()
    }

    /// Frees the idle easy handles (closing their connections); later requests fail with `.cancelled`.
    ///
    /// Requests in flight finish normally; their handles are freed when they return.
    public func shutdown() {
        let idle = pool.withLock { pool in
            pool.isShutDown = true
            defer { pool.idle = [] }
            return pool.idle
        }
        _ = consume idle  // curl_easy_cleanup runs here, outside the lock
    }

    /// Total connections opened by all requests so far (sum of CURLINFO_NUM_CONNECTS); for tests and metrics.
    var connectionsOpened: Int {
        connectionCounter.load(ordering: .relaxed)
    }

    /// Takes an idle handle (most recently used first, so its connection is warm) or makes a new one.
    private func checkOut() throws(HTTPClientError) -> CurlEasyHandle {
        let taken: CurlEasyHandle?? = pool.withLock { pool in
            pool.isShutDown ? nil : .some(pool.idle.popLast())
        }
        guard let taken else {
            throw HTTPClientError(code: .cancelled, message: "client is shut down")
        }
        if let idle = taken { return idle }
        return try CurlEasyHandle()
    }

    /// Returns a handle to the pool, or frees it if the pool is full or shut down.
    private func checkIn(_ handle: CurlEasyHandle) {
        let surplus: CurlEasyHandle? = pool.withLock { pool in
            guard !pool.isShutDown, pool.idle.count < maxIdleHandles else { return handle }
            pool.idle.append(handle)
            return nil
        }
        _ = consume surplus  // freed outside the lock
    }
}
