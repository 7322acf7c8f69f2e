import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SMATestSupport
import SwiftASN1
import X509
@testable import API

/// A minimal HTTP/1.1-over-TLS client on one connection (keep-alive), for the public listener's TLS tests.
final class PublicTLSClient {
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let channel: any Channel
    private var pending = ByteBuffer()

    private init(iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
                 channel: any Channel) {
        self.iterator = iterator
        self.outbound = outbound
        self.channel = channel
    }

    /// Client TLS trusting `ca`, presenting `identity` if given, offering only the versions in `versions`.
    static func tls(trusting ca: String, identity: TestIdentity? = nil,
                    minimum: TLSVersion = .tlsv12, maximum: TLSVersion = .tlsv13) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.utf8)))
        tls.minimumTLSVersion = minimum
        tls.maximumTLSVersion = maximum
        tls.certificateVerification = .noHostnameVerification
        if let identity {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(identity.certificatePEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem))
        }
        return tls
    }

    /// Connects to 127.0.0.1:`port` (over TLS unless `tls` is nil) and runs `body` on that one connection.
    static func with<T>(port: Int, tls: TLSConfiguration?, _ body: (PublicTLSClient) async throws -> T) async throws -> T {
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context { try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil)) }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(PublicTLSClient(iterator: inbound.makeAsyncIterator(), outbound: outbound, channel: channel.channel))
        }
    }

    /// Sends one request and reads its answer (the body by Content-Length).
    func request(_ method: String, _ path: String, headers: [String: String] = [:], body: String = "") async throws -> Answer {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.utf8.count)\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        try await outbound.write(ByteBuffer(string: head + "\r\n" + body))
        while true {
            if let answer = try parse() { return answer }
            guard var more = try await iterator.next() else { throw ClosedWithoutAnswer() }
            pending.writeBuffer(&more)
        }
    }

    struct ClosedWithoutAnswer: Error {}

    private func parse() throws -> Answer? {
        let text = String(decoding: pending.readableBytesView, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let headBytes = text[..<end.upperBound].utf8.count
        guard pending.readableBytes >= headBytes + length else { return nil }
        pending.moveReaderIndex(forwardBy: headBytes)
        let body = pending.readString(length: length) ?? ""
        pending.discardReadBytes()
        let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
        return Answer(status: status, headers: headers, body: body)
    }

    /// The serial number of the certificate the server presented on this connection.
    func serverCertificateSerial() async throws -> String? {
        guard let cert = try await channel.nioSSL_peerCertificate().get() else { return nil }
        return PublicTLSContext.serialHex(try Certificate(derEncoded: try cert.toDERBytes()))
    }
}
