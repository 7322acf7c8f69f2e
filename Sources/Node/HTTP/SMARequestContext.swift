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

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        channel = source.channel
    }

    /// Bodies are collected by the handlers with their own limits (`APIServer.body`).
    var maxUploadSize: Int { 16 * 1024 * 1024 }
}
