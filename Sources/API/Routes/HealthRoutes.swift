import Core
import Foundation
import Hummingbird
import Logging
import NIOCore
import NodeServices
import Prometheus

extension APIServer {
    /// Liveness, readiness, Prometheus metrics and the OpenAPI document (public, no secrets).
    func healthRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        routes.get("/readyz") { _, _ in
            guard state.isReady else { throw APIError(.serviceUnavailable, code: "not_ready", "node is loading or catching up") }
            return try json(["status": "ready", "applied_seq": "\(state.applied)"])
        }
        routes.get("/metrics") { _, _ in
            metrics.devices.set(Int64(state.registry.counts.devices))
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        let document = OpenAPIDocument.json(for: config.compatibility)
        routes.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: document)))
        }
        return routes
    }
}
