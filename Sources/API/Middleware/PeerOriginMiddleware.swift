import Core
import Foundation
package import Hummingbird
import Logging
import NodeServices
import Prometheus

/// On the peer listener only: a request forwarded by another node (mutual TLS already verified its certificate
/// against the cluster CA) carries the original client's address; the receiving node is the certificate's CN.
package struct PeerOriginMiddleware: RouterMiddleware {
    package typealias Context = SMARequestContext

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[APIServer.forwardedHeader] != nil else { return try await next(request, context) }
        var context = context
        let peer = await PeerRoutes.peerID(context) ?? "unknown"
        context.origin = .init(clientAddress: request.headers[APIServer.clientAddressHeader] ?? "unknown",
                               nodeID: peer)
        return try await next(request, context)
    }
}
