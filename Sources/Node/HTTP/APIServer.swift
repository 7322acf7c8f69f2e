import Core
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import SMAPostgres
import Prometheus

/// The public API (DESIGN §4): routes, authentication, limits.
struct APIServer: Sendable {
    let config: NodeConfiguration
    let state: NodeState
    let pool: PostgresPool
    let devices: DeviceService?
    let leadership: Leadership
    let metrics: NodeMetrics
    let startedAt = Date()
    let limiter: RateLimiter
    let writeLimiter: RateLimiter
    let forwarder: Forwarder?
    let statusCache = StatusCache()

    init(config: NodeConfiguration, state: NodeState, pool: PostgresPool, devices: DeviceService?, leadership: Leadership, metrics: NodeMetrics,
         forwarder: Forwarder? = nil) {
        self.forwarder = forwarder
        self.config = config
        self.state = state
        self.pool = pool
        self.devices = devices
        self.leadership = leadership
        self.metrics = metrics
        limiter = RateLimiter(perSecond: config.rateLimitPerSecond)
        writeLimiter = RateLimiter(perSecond: config.writeRateLimitPerSecond)
    }

    static let seqHeader = HTTPField.Name("X-SMA-Seq")!
    static let minSeqHeader = HTTPField.Name("X-SMA-Min-Seq")!

    func router(peer: PeerRoutes? = nil) -> Router<SMARequestContext> {
        let router = Router(context: SMARequestContext.self)
        peer?.add(to: router)
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: ErrorMiddleware(metrics: metrics))
        if peer != nil { router.add(middleware: PeerOriginMiddleware()) }
        router.get("/healthz") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#))) }
        router.get("/readyz") { _, _ in
            guard state.isReady else { throw APIError(.serviceUnavailable, code: "not_ready", "node is loading or catching up") }
            return try json(["status": "ready", "applied_seq": "\(state.applied)"])
        }
        router.get("/metrics") { _, _ in
            metrics.devices.set(Int64(state.registry.counts.devices))
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        router.post("/validate", use: validate)
        router.post("/v1/validate/batch", use: validateBatch)
        router.post("/validate-cert", use: validateCertificate)
        router.post("/api/v1/devices/provision", use: provision)
        router.post("/api/v1/devices/provision/bulk", use: provisionBulk)
        router.get("/api/v1/devices/{serial}", use: getDevice)
        router.get("/api/v1/devices", use: listDevices)
        router.post("/api/v1/devices/{serial}/revoke", use: revoke)
        router.post("/api/v1/devices/{serial}/reinstate", use: reinstate)
        router.get("/api/v1/key-tables", use: listKeyTables)
        router.get("/api/v1/key-tables/{id}/devices", use: keyTableDevices)
        router.post("/api/v1/key-tables/{id}/retire", use: retireKeyTable)
        router.get("/api/v1/audit", use: audit)
        router.get("/api/v1/crl", use: crl)
        router.get("/stats", use: stats)
        router.get("/api/v1/abuse", use: abuseReport)
        router.get("/v1/cluster", use: cluster)
        router.get("/v1/status", use: statusJSON)
        router.get("/status", use: statusPage)
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        return router
    }

    // MARK: helpers

    /// Authenticates the bearer key and checks its role; `anonymousOK` admits keyless callers as validators.
    func authorize(_ request: Request, _ context: SMARequestContext, _ role: Role, anonymousOK: Bool = false, write: Bool = false) throws -> Principal {
        let principal: Principal
        if let header = request.headers[.authorization] {
            guard header.hasPrefix("Bearer "), let p = state.apiKeys.authenticate(String(header.dropFirst(7))) else {
                if !state.isReady {
                    // A node still catching up may not know a key created recently: not the caller's fault.
                    var e = APIError(.serviceUnavailable, code: "not_ready", "this node is still catching up with the cluster; retry shortly")
                    e.headers[.retryAfter] = "1"
                    throw e
                }
                metrics.authFailures.increment()
                var e = APIError(.unauthorized, code: "unauthorized", "API key is not valid")
                e.headers[.wwwAuthenticate] = "Bearer"
                throw e
            }
            principal = p
        } else if anonymousOK && config.anonymousValidation {
            principal = .anonymous
        } else {
            metrics.authFailures.increment()
            var e = APIError(.unauthorized, code: "unauthorized", "missing `Authorization: Bearer <api key>` header")
            e.headers[.wwwAuthenticate] = "Bearer"
            throw e
        }
        guard principal.role.permits(role) else {
            metrics.authFailures.increment()
            throw APIError(.forbidden, code: "forbidden", "this API key's role (\(principal.role.rawValue)) may not call this endpoint")
        }
        let bucketKey: RateLimiter.Key = principal.keyID == 0 ? .address(context.remoteAddress) : .apiKey(principal.keyID)
        guard (write ? writeLimiter : limiter).allow(bucketKey) else {
            metrics.rateLimited.increment()
            var e = APIError(.tooManyRequests, code: "rate_limited", "too many requests for this caller; slow down")
            e.headers[.retryAfter] = "1"
            throw e
        }
        return principal
    }

    /// Honors `X-SMA-Min-Seq`: answers only once that entry is applied here.
    func awaitMinSeq(_ request: Request) async throws {
        guard let raw = request.headers[Self.minSeqHeader] else { return }
        guard let seq = Int64(raw), seq >= 0 else {
            throw APIError(.badRequest, code: "invalid_header", "X-SMA-Min-Seq must be a non-negative integer", field: "X-SMA-Min-Seq")
        }
        guard await state.waitForApplied(seq, timeout: .milliseconds(Int64(config.minSeqWaitSeconds * 1000))) else {
            var e = APIError(.serviceUnavailable, code: "seq_not_reached", "this node has not applied log entry \(seq) yet (applied: \(state.applied))")
            e.headers[.retryAfter] = "1"
            throw e
        }
    }

    /// Collects the body (at most `limit` bytes) and decodes it, naming the field on a shape error.
    func body<T: Decodable>(_ request: Request, _ type: T.Type, limit: Int) async throws -> T {
        let buffer = try await request.body.collect(upTo: limit)
        return try Self.decode(T.self, from: buffer)
    }

    /// One encoder for all answers: sorted keys, so every node answers byte for byte the same.
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// One decoder for all requests: its options never change, and decoding does not mutate it.
    static let decoder = JSONDecoder()

    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        do {
            return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw InputError(field: path(ctx.codingPath + [key]), "is required")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw InputError(field: path(ctx.codingPath), "has the wrong type")
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw InputError(field: path(ctx.codingPath), "must not be null")
        } catch let DecodingError.dataCorrupted(ctx) {
            if ctx.codingPath.isEmpty { throw APIError(.badRequest, code: "invalid_json", "request body is not valid JSON") }
            throw InputError(field: path(ctx.codingPath), "has an invalid value")
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var s = ""
        for k in keys {
            if let i = k.intValue { s += "[\(i)]" } else { s += s.isEmpty ? k.stringValue : "." + k.stringValue }
        }
        return s.isEmpty ? "body" : s
    }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, seq: Int64? = nil) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let seq { headers[Self.seqHeader] = String(seq) }
        let data = try Self.encoder.encode(value)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }


}
