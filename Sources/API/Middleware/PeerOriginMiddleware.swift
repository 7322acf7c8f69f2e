import Core
import Foundation
package import Hummingbird
import Logging
import NodeServices
import Prometheus

/// On the peer listener only, after `PeerIdentityMiddleware`: a request forwarded by another node carries the
/// original client's address; the receiving node is the certificate's CN. The address is believed only from a
/// leader-eligible forwarder: a follower's certificate (perhaps stolen) cannot put an address of its choice in
/// the audit trail, so its forwarded requests record `unverified`.
package struct PeerOriginMiddleware: RouterMiddleware {
    package typealias Context = SMARequestContext

    /// The client address recorded for a request forwarded by a node whose word on it is not taken.
    package static let unverifiedAddress = "unverified"

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[APIServer.forwardedHeader] != nil, let peer = context.peer else { return try await next(request, context) }
        var context = context
        let claimed = request.headers[APIServer.clientAddressHeader].flatMap(Self.plausibleAddress)
        context.origin = .init(clientAddress: peer.role == .leaderEligible ? claimed ?? "unknown" : Self.unverifiedAddress, nodeID: peer.id)
        return try await next(request, context)
    }

    /// `text` if it looks like an IP address (at most 45 characters of hex digits, dots and colons), else nil.
    static func plausibleAddress(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= 45, text.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) else { return nil }
        return text
    }
}
