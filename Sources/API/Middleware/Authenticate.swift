import Core
import Foundation
package import Hummingbird
import Logging
import NodeServices
import Prometheus

/// Authentication as middleware: the bearer API key must be known and hold `role`; `anonymous` says when keyless
/// callers are admitted as validators (decided by the configuration). Then the caller's rate limit (per key, or per client
/// address when anonymous; `write` selects the write limiter). The principal is put in the request context.
package struct Authenticate: RouterMiddleware {
    package typealias Context = SMARequestContext
    let api: APIServer
    let role: Role
    let anonymous: AnonymousAccess
    let write: Bool

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.principal = try api.authorize(request, context, role, anonymous: anonymous, write: write)
        return try await next(request, context)
    }
}

extension APIServer {
    /// Authenticates the bearer key and checks its role; `anonymous` says when keyless callers are admitted as validators.
    func authorize(_ request: Request, _ context: SMARequestContext, _ role: Role, anonymous: AnonymousAccess = .never, write: Bool = false) throws -> Principal {
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
                // An address that keeps presenting bad keys is answered 429 (its failures beyond the rate). A valid key
                // from the same address still passes: clients behind one NAT are not locked out by another's mistakes.
                guard authFailureLimiter.allow(.address(context.auditOrigin.clientAddress)) else {
                    metrics.rateLimited.increment()
                    var e = APIError(.tooManyRequests, code: "rate_limited", "too many failed authentications from this address; slow down")
                    e.headers[.retryAfter] = "1"
                    throw e
                }
                var e = APIError(.unauthorized, code: "unauthorized", "API key is not valid")
                e.headers[.wwwAuthenticate] = "Bearer"
                throw e
            }
            principal = p
        } else if let name = context.clientCertificateName {
            // A client certificate from the configured client CA: an aggregator. It never grants more than validator.
            principal = Principal(keyID: 0, name: "mtls:\(name)", role: .validator)
        } else if anonymous.admits(config) {
            principal = .anonymous
        } else {
            metrics.authFailures.increment()
            var e = APIError(.unauthorized, code: "unauthorized", "missing `Authorization: Bearer <api key>` header")
            e.headers[.wwwAuthenticate] = "Bearer"
            throw e
        }
        guard principal.role.permits(role) else {
            metrics.authFailures.increment()
            let credential = principal.keyID == 0 && context.clientCertificateName != nil ? "client certificate" : "API key"
            throw APIError(.forbidden, code: "forbidden", "this \(credential)'s role (\(principal.role.rawValue)) may not call this endpoint")
        }
        let bucketKey: RateLimiter.Key = principal.keyID != 0 ? .apiKey(principal.keyID)
            : context.clientCertificateName.map { .clientCertificate($0) } ?? .address(context.remoteAddress)
        guard (write ? writeLimiter : limiter).allow(bucketKey) else {
            metrics.rateLimited.increment()
            var e = APIError(.tooManyRequests, code: "rate_limited", "too many requests for this caller; slow down")
            e.headers[.retryAfter] = "1"
            throw e
        }
        return principal
    }

}

/// When a route admits callers without a key (always as validators, rate-limited per client address).
enum AnonymousAccess: Sendable {
    /// Never.
    case never
    /// Token validation: with `anonymous_validation` or in the `birthmark` profile.
    case tokenValidation
    /// Certificate-bundle validation: in the `birthmark` profile.
    case certificateValidation

    func admits(_ config: NodeConfiguration) -> Bool {
        switch self {
        case .never: false
        case .tokenValidation: config.effectiveAnonymousValidation
        case .certificateValidation: config.anonymousCertificateValidation
        }
    }
}
