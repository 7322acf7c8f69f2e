import Core
package import NodeServices
import Replication
package import Hummingbird
package import Foundation
package import HTTPTypes
import Logging
package import NIOCore
import Prometheus

/// The public API (docs/ARCHITECTURE.md §4): routes, authentication, limits.
package struct APIServer: Sendable {
    package let config: NodeConfiguration
    package let state: NodeState
    package let store: any RegistryQueries
    package let devices: DeviceService?
    package let leadership: Leadership
    package let metrics: NodeMetrics
    package let startedAt = Date()
    package let limiter: RateLimiter
    package let writeLimiter: RateLimiter
    package let forwarder: Forwarder?
    package let statusCache = StatusCache()
    /// At most four large bodies (bulk provisioning, batch validation) read and decoded at once.
    let largeBodies = LargeBodyGate(limit: 4)
    /// Failed authentications per client address.
    let authFailureLimiter: RateLimiter

    package init(config: NodeConfiguration, state: NodeState, store: any RegistryQueries, devices: DeviceService?, leadership: Leadership, metrics: NodeMetrics,
         forwarder: Forwarder? = nil) {
        self.forwarder = forwarder
        self.config = config
        self.state = state
        self.store = store
        self.devices = devices
        self.leadership = leadership
        self.metrics = metrics
        limiter = RateLimiter(perSecond: config.rateLimitPerSecond)
        writeLimiter = RateLimiter(perSecond: config.writeRateLimitPerSecond)
        authFailureLimiter = RateLimiter(perSecond: config.authFailuresPerSecond)
    }

    package static let seqHeader = HTTPField.Name("X-SMA-Seq")!
    package static let minSeqHeader = HTTPField.Name("X-SMA-Min-Seq")!

    /// The public listener's router: HSTS on HTTPS, metrics and error middleware around every route, the client
    /// certificate's name when client certificates are on, then one route collection per resource, each with its own
    /// authentication middleware.
    package func router() -> Router<SMARequestContext> {
        let router = Router(context: SMARequestContext.self)
        if config.publicTLSEnabled && config.hstsMaxAgeSeconds > 0 {
            router.add(middleware: HSTSMiddleware(maxAgeSeconds: config.hstsMaxAgeSeconds))
        }
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: ErrorMiddleware(metrics: metrics))
        if config.effectivePublicClientAuth != .off { router.add(middleware: ClientCertificateMiddleware()) }
        addPublicRoutes(to: router)
        return router
    }

    /// The peer listener's router (mutual TLS): the same metrics and error middleware; the replication routes
    /// under `/peer/v1` with the peer identity middleware; the public routes, for writes another node forwards,
    /// behind the middleware that takes the original client's address from a forwarding peer.
    package func peerRouter(_ peer: PeerRoutes) -> Router<SMARequestContext> {
        let router = Router(context: SMARequestContext.self)
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: ErrorMiddleware(metrics: metrics))
        router.add(middleware: PeerIdentityMiddleware(state: state))
        router.addRoutes(peer.routes(), atPath: "/peer/v1")
        let forwarded = router.group()
        forwarded.add(middleware: PeerOriginMiddleware())
        addPublicRoutes(to: forwarded)
        return router
    }

    private func addPublicRoutes(to router: some RouterMethods<SMARequestContext>) {
        router.addRoutes(healthRoutes())
        router.addRoutes(validationRoutes())
        router.addRoutes(deviceRoutes(), atPath: "/api/v1/devices")
        router.addRoutes(keyTableRoutes(), atPath: "/api/v1/key-tables")
        router.addRoutes(auditRoutes(), atPath: "/api/v1")
        router.addRoutes(abuseRoutes(), atPath: "/api/v1/abuse")
        router.addRoutes(apiKeyRoutes(), atPath: "/api/v1/api-keys")
        router.addRoutes(nodeRoutes(), atPath: "/api/v1/nodes")
        router.addRoutes(clusterRoutes())
        router.addRoutes(statusRoutes())
        if config.compatibility == .birthmark { router.addRoutes(compatibilityRoutes()) }
    }

    /// Authentication for a route group: the bearer key must hold `role` (see `Authenticate`).
    func authenticate(_ role: Role, anonymous: AnonymousAccess = .never, write: Bool = false) -> Authenticate {
        Authenticate(api: self, role: role, anonymous: anonymous, write: write)
    }

    // MARK: helpers

    /// Honors `X-SMA-Min-Seq`: answers only once that entry is applied here.
    /// - Parameter fromDatabase: the route answers from this node's database, not memory: it also waits until the
    ///   database has the seq (after an outage the database may be behind memory until anti-entropy refills it).
    package func awaitMinSeq(_ request: Request, fromDatabase: Bool = false) async throws {
        guard let raw = request.headers[Self.minSeqHeader] else { return }
        guard let seq = Int64(raw), seq >= 0 else {
            throw APIError(.badRequest, code: "invalid_header", "X-SMA-Min-Seq must be a non-negative integer", field: "X-SMA-Min-Seq")
        }
        guard state.appliedWaiters.count < state.appliedWaiters.limit else {
            var e = APIError(.serviceUnavailable, code: "busy", "too many requests are waiting for X-SMA-Min-Seq on this node; retry shortly")
            e.headers[.retryAfter] = "1"
            throw e
        }
        let timeout = Duration.milliseconds(Int64(config.minSeqWaitSeconds * 1000))
        let start = ContinuousClock.now
        guard await state.waitForApplied(seq, timeout: timeout) else {
            var e = APIError(.serviceUnavailable, code: "seq_not_reached", "this node has not applied log entry \(seq) yet (applied: \(state.applied))")
            e.headers[.retryAfter] = "1"
            throw e
        }
        if fromDatabase, !(await state.waitForStored(seq, timeout: timeout - start.duration(to: .now))) {
            var e = APIError(.serviceUnavailable, code: "seq_not_reached",
                             "this node's database has not caught up to log entry \(seq) yet (it has \(state.databaseServableSeq))")
            e.headers[.retryAfter] = "1"
            throw e
        }
    }

    /// Collects the body (at most `limit` bytes) and decodes it, naming the field on a shape error.
    package func body<T: Decodable>(_ request: Request, _ type: T.Type, limit: Int, context: SMARequestContext) async throws -> T {
        try Self.decode(T.self, from: try await request.collectBody(upTo: limit, context: context))
    }

    /// One encoder for all answers: sorted keys, so every node answers byte for byte the same.
    package static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// One decoder for all requests: its options never change, and decoding does not mutate it.
    package static let decoder = JSONDecoder()

    /// Decodes a body whose lists hold at most `maxItems` elements each (`BoundedList`), checked while decoding.
    package static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer, maxItems: Int) throws -> T {
        let decoder = JSONDecoder()
        decoder.userInfo[BoundedList<Never>.maxItemsKey] = maxItems
        return try decode(T.self, from: buffer, using: decoder)
    }

    package static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer, using decoder: JSONDecoder = APIServer.decoder) throws -> T {
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

    package static func path(_ keys: [any CodingKey]) -> String {
        var s = ""
        for k in keys {
            if let i = k.intValue { s += "[\(i)]" } else { s += s.isEmpty ? k.stringValue : "." + k.stringValue }
        }
        return s.isEmpty ? "body" : s
    }

    package func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, seq: Int64? = nil) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let seq { headers[Self.seqHeader] = String(seq) }
        let data = try Self.encoder.encode(value)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }


}
