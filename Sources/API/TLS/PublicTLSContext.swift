package import Foundation
package import NIOSSL
package import NodeServices
import SwiftASN1
import NIOCore
import Synchronization
package import X509

/// The public listener's TLS server context (docs/ARCHITECTURE.md §3.3.1), built from `public_tls_cert_file`,
/// `public_tls_key_file` and `public_tls_client_ca_file`, and rebuilt from the same files by `reload()` (SIGHUP).
///
/// Every new connection takes the context current at its accept (`ReloadableTLSChannel`); a connection keeps the
/// context it was accepted with, so a reload never drops one. A reload that fails (a file missing, unreadable, not
/// PEM, or a key that does not match the certificate) throws a `ConfigurationError` naming the key and the file, and
/// keeps the current context.
package final class PublicTLSContext: Sendable {
    /// What an operator checks after a reload: the serving certificate's serial, subject and end of validity.
    package struct CertificateInfo: Sendable, Equatable {
        package var serial: String
        package var subject: String
        package var notAfter: Date
    }

    package let certFile: String
    package let keyFile: String
    package let clientCAFile: String?
    package let clientAuth: PublicClientAuth
    private let current: Mutex<(context: NIOSSLContext, info: CertificateInfo)>
    /// Called once for each connection whose handshake failed (a metric; never logged per connection at info level).
    let onHandshakeFailure: @Sendable (any Error) -> Void

    /// Loads the files named by `config` (which must have `public_tls_cert_file`).
    /// - Parameter onHandshakeFailure: told of each connection refused at the handshake.
    package init(config: NodeConfiguration, onHandshakeFailure: @escaping @Sendable (any Error) -> Void = { _ in }) throws {
        self.onHandshakeFailure = onHandshakeFailure
        guard let certFile = config.publicTLSCertFile, let keyFile = config.publicTLSKeyFile else {
            throw ConfigurationError(key: "public_tls_cert_file", problem: "is required for HTTPS on the public port")
        }
        self.certFile = certFile
        self.keyFile = keyFile
        clientCAFile = config.publicTLSClientCAFile
        clientAuth = config.effectivePublicClientAuth
        current = Mutex(try Self.load(certFile: certFile, keyFile: keyFile, clientCAFile: clientCAFile, clientAuth: clientAuth))
    }

    /// The context new handshakes use.
    package var sslContext: NIOSSLContext { current.withLock { $0.context } }

    /// The certificate new handshakes present.
    package var certificate: CertificateInfo { current.withLock { $0.info } }

    /// Re-reads the files and, if they make a valid context, makes it the one new handshakes use.
    /// - Returns: the new certificate.
    /// - Throws: `ConfigurationError` naming the key and file at fault; the current context stays.
    @discardableResult
    package func reload() throws -> CertificateInfo {
        let loaded = try Self.load(certFile: certFile, keyFile: keyFile, clientCAFile: clientCAFile, clientAuth: clientAuth)
        current.withLock { $0 = loaded }
        return loaded.info
    }

    /// TLS 1.2 or newer; client certificates verified against the client CA when `clientAuth` is not `off`.
    static func load(certFile: String, keyFile: String, clientCAFile: String?,
                     clientAuth: PublicClientAuth) throws -> (context: NIOSSLContext, info: CertificateInfo) {
        let certPEM = try read("public_tls_cert_file", certFile)
        let chain = try parse("public_tls_cert_file", certFile, "PEM certificate") { try NIOSSLCertificate.fromPEMBytes(certPEM) }
        guard !chain.isEmpty else { throw ConfigurationError(key: "public_tls_cert_file", problem: "\(certFile) holds no PEM certificate") }
        let leaf = try parse("public_tls_cert_file", certFile, "PEM certificate") { try Certificate(derEncoded: try chain[0].toDERBytes()) }
        let keyPEM = try read("public_tls_key_file", keyFile)
        let key = try parse("public_tls_key_file", keyFile, "PEM private key") { try NIOSSLPrivateKey(bytes: keyPEM, format: .pem) }
        let keyForCheck = try parse("public_tls_key_file", keyFile, "PEM private key (P-256, P-384, P-521, RSA or Ed25519)") {
            try Certificate.PrivateKey(pemEncoded: String(decoding: keyPEM, as: UTF8.self))
        }
        guard keyForCheck.publicKey == leaf.publicKey else {
            throw ConfigurationError(key: "public_tls_key_file", problem: "the key in \(keyFile) does not match the certificate in \(certFile)")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        // Closing (e.g. after an oversized body, §3.1) waits this long for the client's close_notify, not NIOSSL's
        // default 5 s: a client that writes its whole body before reading learns of the close at once.
        tls.shutdownTimeout = .seconds(1)
        if clientAuth != .off {
            guard let clientCAFile else {
                throw ConfigurationError(key: "public_tls_client_ca_file", problem: "is required when public_tls_client_auth is \(clientAuth.rawValue)")
            }
            let caPEM = try read("public_tls_client_ca_file", clientCAFile)
            let roots = try parse("public_tls_client_ca_file", clientCAFile, "PEM certificate") { try NIOSSLCertificate.fromPEMBytes(caPEM) }
            guard !roots.isEmpty else {
                throw ConfigurationError(key: "public_tls_client_ca_file", problem: "\(clientCAFile) holds no PEM certificate")
            }
            tls.trustRoots = .certificates(roots)
            tls.certificateVerification = clientAuth == .require ? .noHostnameVerification : .optionalVerification
            tls.sendCANameList = true
        }
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: tls) } catch {
            throw ConfigurationError(key: "public_tls_cert_file", problem: "cannot make a TLS context from \(certFile) and \(keyFile): \(error)")
        }
        let info = CertificateInfo(serial: serialHex(leaf), subject: leaf.subject.description, notAfter: leaf.notValidAfter)
        return (context, info)
    }

    /// A certificate's serial number as `openssl x509 -serial` prints it (upper-case hex, two digits a byte).
    package static func serialHex(_ certificate: Certificate) -> String {
        certificate.serialNumber.bytes.map { String(format: "%02X", $0) }.joined()
    }

    private static func read(_ key: String, _ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(key: key, problem: "cannot read \(path) (missing or unreadable)")
        }
        return Array(data)
    }

    private static func parse<T>(_ key: String, _ path: String, _ what: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw ConfigurationError(key: key, problem: "\(path) is not a valid \(what)") }
    }
}
