import Core
package import NodeServices
import Replication
package import Hummingbird
import Foundation

/// Times every public request into `sma_http_request_duration_seconds{route,method,status}`. It sits outside
/// `ErrorMiddleware`, so it sees the status that was sent; `route` is the matched pattern
/// (e.g. `/api/v1/devices/{serial}`), or `unmatched`, and `method` one of the standard methods or `other`,
/// so label values stay few whatever clients send.
package struct MetricsMiddleware: RouterMiddleware {
    package typealias Context = SMARequestContext
    package let metrics: NodeMetrics

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.recordHTTP(route: Self.route(context), method: Self.method(request),
                               status: response.status.code, duration: start.duration(to: .now))
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.recordHTTP(route: Self.route(context), method: Self.method(request),
                               status: status, duration: start.duration(to: .now))
            throw error
        }
    }

    package static let knownMethods: Set<String> = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]

    package static func method(_ request: Request) -> String {
        let m = request.method.rawValue
        return knownMethods.contains(m) ? m : "other"
    }

    package static func route(_ context: Context) -> String {
        guard let path = context.endpointPath, path.hasPrefix("/") else { return "unmatched" }
        return path
    }
}
