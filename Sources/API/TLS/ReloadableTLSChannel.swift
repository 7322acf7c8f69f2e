package import HummingbirdCore
package import Logging
package import NIOCore
import NIOSSL

/// A child channel that starts with TLS, taking the server context current at accept from a `PublicTLSContext`
/// (Hummingbird's `TLSChannel` fixes one context for the listener's life). Connections accepted before a reload
/// keep the context they started with; new ones get the reloaded one.
package struct ReloadableTLSChannel<BaseChannel: ServerChildChannel>: ServerChildChannel {
    package typealias Value = BaseChannel.Value
    let base: BaseChannel
    let tls: PublicTLSContext

    package init(_ base: BaseChannel, tls: PublicTLSContext) {
        self.base = base
        self.tls = tls
    }

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.sslContext))
            try channel.pipeline.syncOperations.addHandler(HandshakeFailureObserver(report: tls.onHandshakeFailure))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    package func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension ReloadableTLSChannel: HTTPChannelHandler where BaseChannel: HTTPChannelHandler {
    package var responder: HTTPChannelHandler.Responder { base.responder }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 over TLS whose certificate can be replaced while the server runs (`PublicTLSContext.reload()`).
    package static func http1(configuration: HTTP1Channel.Configuration, reloadingTLS tls: PublicTLSContext) -> HTTPServerBuilder {
        .init { responder in
            ReloadableTLSChannel(HTTP1Channel(responder: responder, configuration: configuration), tls: tls)
        }
    }
}

extension HTTPServerBuilder {
    /// The public listener's server: HTTP/1.1 (75 s idle timeout), over TLS with a reloadable certificate when `tls`
    /// is given (`public_tls_cert_file`).
    package static func publicServer(tls: PublicTLSContext?) -> HTTPServerBuilder {
        let http = HTTP1Channel.Configuration(idleTimeout: .seconds(75))
        guard let tls else { return .http1(configuration: http) }
        return .http1(configuration: http, reloadingTLS: tls)
    }
}

/// Reports a TLS handshake that failed (plain HTTP, an old protocol, a client certificate of another CA): the
/// connection is closed by `NIOSSLServerHandler`, and nothing else would tell the operator (Hummingbird logs nothing).
final class HandshakeFailureObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let report: @Sendable (any Error) -> Void
    private var handshakeDone = false

    init(report: @escaping @Sendable (any Error) -> Void) { self.report = report }

    /// Decrypted data arrives only after the handshake (the client's certificate, if any, is checked before).
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handshakeDone = true
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !handshakeDone && (error is NIOSSLError || error is BoringSSLError) {
            handshakeDone = true     // once per connection
            report(error)
        }
        context.fireErrorCaught(error)
    }
}
