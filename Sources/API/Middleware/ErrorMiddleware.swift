import Core
import Foundation
import HTTPTypes
package import Hummingbird
import Logging
import NIOCore
package import NodeServices
import SMAErrors
import Prometheus

/// Maps every error thrown below it to an `APIError` response, and counts 4xx/5xx.
package struct ErrorMiddleware: RouterMiddleware {
    package typealias Context = SMARequestContext
    package let metrics: NodeMetrics

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            return response
        } catch {
            var apiError = map(error, context: context)
            // An answer given before the body was read (a refused key, an unknown route): read the rest of the body
            // within bounds first, or close the connection, so a client that writes before it reads is not left hanging.
            if !apiError.closeConnection, !context.bodyRead.isSet, await !request.drainBody(upTo: Request.drainLimit) {
                apiError.closeConnection = true
            }
            if apiError.status.code >= 500 { metrics.serverErrors.increment() } else { metrics.clientErrors.increment() }
            return try apiError.response(from: request, context: context)
        }
    }

    package func map(_ error: any Error, context: Context) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as InputError: return .from(e)
        case let e as NodeError:
            if e.code == .internal { context.logger.error("request failed", metadata: ["error": "\(e)", "error.location": "\(e.location)"]) }
            return .from(e)
        case let e as HTTPError:
            switch e.status {
            case .contentTooLarge: return APIError(.contentTooLarge, code: "body_too_large", "request body is larger than this endpoint accepts")
            case .notFound: return APIError(.notFound, code: "not_found", "no such route")
            case .methodNotAllowed: return APIError(.methodNotAllowed, code: "method_not_allowed", "method not allowed on this route")
            default: return APIError(e.status, code: "http_error", e.body ?? e.status.reasonPhrase)
            }
        case is NIOTooManyBytesError:
            return APIError(.contentTooLarge, code: "body_too_large", "request body is larger than this endpoint accepts")
        case is CancellationError:
            return APIError(.serviceUnavailable, code: "unavailable", "request was cancelled (server shutting down)")
        default:
            // Log the error's type only: descriptions of foreign errors may carry request data.
            context.logger.error("unexpected error", metadata: ["error.type": "\(type(of: error))"])
            return APIError(.internalServerError, code: "internal", "internal error")
        }
    }
}
