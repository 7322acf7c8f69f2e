import Core
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import Logging
import Prometheus

/// The one place errors become HTTP answers: status + `{"error": {code, message, field}}`.
///
/// Messages are written for the caller and never contain tokens, NUC hashes, keys or SQL.
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var field: String?
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    private struct Body: Encodable {
        struct Inner: Encodable {
            var code: String
            var message: String
            var field: String?
        }
        var error: Inner
        /// FastAPI-style summary for older clients.
        var detail: String
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let detail = field.map { "\($0): \(message)" } ?? message
        let data = try APIServer.encoder.encode(Body(error: .init(code: code, message: message, field: field), detail: detail))
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func from(_ error: InputError) -> APIError {
        APIError(.unprocessableContent, code: "invalid_input", error.problem, field: error.field)
    }

    static func from(_ error: NodeError) -> APIError {
        switch error.code {
        case .invalidInput: return APIError(.unprocessableContent, code: "invalid_input", error.reason, field: error.field)
        case .conflict: return APIError(.conflict, code: "conflict", error.reason, field: error.field)
        case .notFound: return APIError(.notFound, code: "not_found", error.reason)
        case .notLeader, .unavailable, .notReady:
            var e = APIError(.serviceUnavailable, code: error.code.description, error.reason)
            e.headers[.retryAfter] = "1"
            return e
        default: return APIError(.internalServerError, code: "internal", "internal error")
        }
    }
}

/// Maps every error thrown below it to an `APIError` response, and counts 4xx/5xx.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = SMARequestContext
    let metrics: NodeMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            return response
        } catch {
            let apiError = map(error, context: context)
            if apiError.status.code >= 500 { metrics.serverErrors.increment() } else { metrics.clientErrors.increment() }
            return try apiError.response(from: request, context: context)
        }
    }

    func map(_ error: any Error, context: Context) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as InputError: return .from(e)
        case let e as NodeError:
            if e.code == .internal { context.logger.error("request failed", metadata: ["error": "\(e)"]) }
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
