package import Core
package import NodeServices
import Replication
package import Hummingbird
import Foundation
package import HTTPTypes
import Logging
import NIOCore
import Prometheus

/// The one place errors become HTTP answers: status + `{"error": {code, message, field}}`.
///
/// Messages are written for the caller and never contain tokens, NUC hashes, keys or SQL.
package struct APIError: HTTPResponseError {
    package var status: HTTPResponse.Status
    package var code: String
    package var message: String
    package var field: String?
    package var headers: HTTPFields = [:]
    /// Close the connection once the answer is written (a body that was cut short or could not be read).
    package var closeConnection = false

    package init(_ status: HTTPResponse.Status, code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    private struct Body: Encodable {
        struct Inner: Encodable {
            package var code: String
            package var message: String
            package var field: String?
        }
        var error: Inner
        /// FastAPI-style summary for older clients.
        var detail: String
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        let detail = field.map { "\($0): \(message)" } ?? message
        let data = try APIServer.encoder.encode(Body(error: .init(code: code, message: message, field: field), detail: detail))
        var h = headers
        h[.contentType] = "application/json"
        guard closeConnection, let channel = (context as? SMARequestContext)?.channel else {
            return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        h[.connection] = "close"
        // Written, then the connection closed: the rest of the request is never read.
        return Response(status: status, headers: h, body: .init(contentLength: data.count) { writer in
            try await writer.write(ByteBuffer(bytes: data))
            try await writer.finish(nil)
            channel.close(promise: nil)
        })
    }

    package static func from(_ error: InputError) -> APIError {
        APIError(.unprocessableContent, code: "invalid_input", error.problem, field: error.field)
    }

    package static func from(_ error: NodeError) -> APIError {
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
