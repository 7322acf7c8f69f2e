import Core
import Hummingbird
import NIOCore
import Logging

/// Per-request context: the authenticated caller and where the request came from.
struct SMARequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var principal: Principal?
    let remoteAddress: String
    /// The connection (the peer listener reads the caller's certificate from it); nil in router tests.
    let channel: (any Channel)?
    /// For a write forwarded by another node over the mutual-TLS peer channel: the original client's address
    /// and the node that received it. Set only on the peer listener (`PeerOriginMiddleware`), never from
    /// headers on the public port.
    var origin: RequestOrigin?

    struct RequestOrigin: Sendable, Equatable {
        var clientAddress: String
        var nodeID: String
    }

    /// The client address and receiving node an audit row records.
    var auditOrigin: (clientAddress: String, nodeID: String?) {
        origin.map { ($0.clientAddress, $0.nodeID) } ?? (remoteAddress, nil)
    }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        channel = source.channel
    }

    /// Bodies are collected by the handlers with their own limits (`APIServer.body`).
    var maxUploadSize: Int { 16 * 1024 * 1024 }
}
