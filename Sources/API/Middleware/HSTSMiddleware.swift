package import Hummingbird

/// `Strict-Transport-Security: max-age=N` on every answer of the HTTPS public listener (errors included), so a
/// browser that once reached the node over HTTPS never falls back to plain HTTP for it.
package struct HSTSMiddleware: RouterMiddleware {
    package typealias Context = SMARequestContext
    let value: String

    package init(maxAgeSeconds: Int) { value = "max-age=\(maxAgeSeconds)" }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.strictTransportSecurity] = value
        return response
    }
}
