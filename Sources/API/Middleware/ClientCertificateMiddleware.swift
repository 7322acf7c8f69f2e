package import Hummingbird
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// On the HTTPS public listener with client certificates enabled: a request without `Authorization` whose
/// connection presented a client certificate (verified against `public_tls_client_ca_file` at the handshake) carries
/// the certificate's subject CN in `context.clientCertificateName`; `Authenticate` then admits it as a `validator`,
/// never more. Not on the peer listener, whose certificates are the cluster's, not clients'.
package struct ClientCertificateMiddleware: RouterMiddleware {
    package typealias Context = SMARequestContext

    package init() {}

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[.authorization] == nil, let channel = context.channel,
              let presented = try? await channel.nioSSL_peerCertificate().get() else {
            return try await next(request, context)
        }
        var context = context
        context.clientCertificateName = Self.name(of: presented)
        return try await next(request, context)
    }

    /// The subject CN (printable ASCII, at most 64 characters), or the serial number when there is no usable CN.
    static func name(of certificate: NIOSSLCertificate) -> String {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return "unknown" }
        for rdn in parsed.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                let cn = String(describing: attribute.value)
                if !cn.isEmpty, cn.utf8.count <= 64, cn.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) { return cn }
            }
        }
        return "serial:" + parsed.serialNumber.description
    }
}
