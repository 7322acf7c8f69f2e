import Core
package import NodeServices
import Replication
package import Hummingbird
import Foundation
package import HTTPTypes
import Logging
import NIOCore

/// The audit trail (admins) and the certificate revocation list (public).
extension APIServer {
    /// `GET /api/v1/audit` (admins) and `GET /api/v1/crl` (public: CRLs are published).
    func auditRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.get("/crl", use: crl)
        routes.group().add(middleware: authenticate(.admin))
            .get("/audit", use: audit)
        return routes
    }

    // MARK: audit trail

    package struct AuditPage: Encodable {
        package var entries: [AuditRecord]
        package var next_after: Int64?
    }

    /// `GET /api/v1/audit?after=&limit=&order=` (admin). The trail lives in the write region's database:
    /// leader-eligible nodes read it there; other nodes forward the request to the leader.
    @Sendable package func audit(_ request: Request, context: SMARequestContext) async throws -> Response {
        let q = request.uri.queryParameters
        var after: Int64?
        if let raw = q.get("after") {
            guard let a = Int64(raw), a >= 0 else { throw InputError(field: "after", "must be a non-negative integer (an audit id)") }
            after = a
        }
        let limit = try Self.pageLimit(q.get("limit"))
        let order = q.get("order") ?? "asc"
        guard order == "asc" || order == "desc" else { throw InputError(field: "order", "must be asc (oldest first) or desc (newest first)") }
        guard config.role == .leaderEligible else {
            return try await forwardToLeader(request, body: ByteBuffer(), context: context)
        }
        let newestFirst = order == "desc", cursor = after
        let page = try await store.audit(after: cursor, limit: limit, newestFirst: newestFirst)
        return try json(AuditPage(entries: page, next_after: page.count == limit ? page.last?.id : nil))
    }

    // MARK: CRL

    package static let crlNumberHeader = HTTPField.Name("X-SMA-CRL-Number")!

    /// `GET /api/v1/crl[?format=pem]` (no authentication: CRLs are public): the latest CRL from memory.
    @Sendable package func crl(_ request: Request, context: SMARequestContext) async throws -> Response {
        let format = request.uri.queryParameters.get("format") ?? "der"
        guard format == "der" || format == "pem" else { throw InputError(field: "format", "must be der or pem") }
        try await awaitMinSeq(request)
        guard let crl = state.crl else {
            var e = APIError(.serviceUnavailable, code: "not_ready", "no certificate revocation list has been issued yet; retry shortly")
            e.headers[.retryAfter] = "1"
            throw e
        }
        var headers: HTTPFields = [Self.crlNumberHeader: String(crl.number),
                                   .cacheControl: "public, max-age=60"]
        if format == "pem" {
            headers[.contentType] = "application/x-pem-file"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: crl.pem)))
        }
        headers[.contentType] = "application/pkix-crl"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: crl.der)))
    }
}
