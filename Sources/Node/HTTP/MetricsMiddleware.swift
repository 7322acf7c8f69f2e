import Hummingbird

/// Times every public request into `sma_http_request_duration_seconds{route,method,status}`. It sits outside
/// `ErrorMiddleware`, so it sees the status that was sent; `route` is the matched pattern
/// (e.g. `/api/v1/devices/{serial}`), or `unmatched`, so label values stay few.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = SMARequestContext
    let metrics: NodeMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.recordHTTP(route: context.endpointPath ?? "unmatched", method: request.method.rawValue,
                               status: response.status.code, duration: start.duration(to: .now))
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.recordHTTP(route: context.endpointPath ?? "unmatched", method: request.method.rawValue,
                               status: status, duration: start.duration(to: .now))
            throw error
        }
    }
}
