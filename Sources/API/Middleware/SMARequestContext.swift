import Synchronization
package import Core
import NodeServices
import Replication
package import Hummingbird
import Foundation
import Logging
package import NIOCore

/// Per-request context: the authenticated caller and where the request came from.
package struct SMARequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package var principal: Principal?
    package let remoteAddress: String
    /// The connection (the peer listener reads the caller's certificate from it); nil in router tests.
    package let channel: (any Channel)?
    /// For a write forwarded by another node over the mutual-TLS peer channel: the original client's address
    /// and the node that received it. Set only on the peer listener (`PeerOriginMiddleware`), never from
    /// headers on the public port.
    package var origin: RequestOrigin?
    /// On the peer listener: the calling node, from its verified certificate (`PeerIdentityMiddleware`).
    package var peer: PeerIdentity?
    /// On the HTTPS public listener: the subject CN of the verified client certificate of a request without
    /// `Authorization` (`ClientCertificateMiddleware`); `Authenticate` admits it as a validator.
    package var clientCertificateName: String?

    package struct RequestOrigin: Sendable, Equatable {
        package var clientAddress: String
        package var nodeID: String
    }

    /// The client address and receiving node an audit row records.
    package var auditOrigin: (clientAddress: String, nodeID: String?) {
        origin.map { ($0.clientAddress, $0.nodeID) } ?? (remoteAddress, nil)
    }

    /// Whether a handler started reading the body (an error answer given before that drains it first).
    package let bodyRead = BodyReadFlag()

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        channel = source.channel
    }

    /// Bodies are collected by the handlers with their own limits (`APIServer.body`).
    package var maxUploadSize: Int { 16 * 1024 * 1024 }

    /// The authenticated API key's id for abuse attribution (`CallerSamples`); 0 when anonymous or not a key.
    package var callerKeyID: UInt32 { principal.flatMap { UInt32(exactly: $0.keyID) } ?? 0 }

    /// The caller that `Authenticate` admitted (routes without authentication have none).
    package func authenticatedPrincipal() throws -> Principal {
        guard let principal else { throw NodeError(.internal, "route is missing its authentication middleware") }
        return principal
    }
}

/// Set once a handler starts reading the request body (shared by every copy of the request context).
package final class BodyReadFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    package init() {}
    package var isSet: Bool { flag.load(ordering: .relaxed) }
    package func set() { flag.store(true, ordering: .relaxed) }
}
