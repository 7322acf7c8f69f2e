/// TLS material for a client: all PEM strings held in memory (passed to libcurl as *_BLOB with CURL_BLOB_COPY; never written to disk).
///
/// Only `trustRootsPEM` is trusted: the system CA store is not consulted. An empty
/// `certificateChainPEM` means no client certificate is presented (server-authenticated TLS only).
public struct HTTPClientTLS: Sendable {
    /// The client certificate chain in PEM, leaf first; empty to present no client certificate.
    public var certificateChainPEM: String
    /// The private key for the leaf certificate in PEM (PKCS#8 or SEC1); ignored when `certificateChainPEM` is empty.
    public var privateKeyPEM: String
    /// The only certificate authorities trusted to sign server certificates, in PEM.
    public var trustRootsPEM: String

    /// Creates TLS material from PEM strings held in memory.
    ///
    /// - Parameters:
    ///   - certificateChainPEM: client certificate chain, leaf first (empty: no client certificate).
    ///   - privateKeyPEM: private key of the leaf certificate.
    ///   - trustRootsPEM: CA certificates that server certificates must chain to.
    public init(certificateChainPEM: String, privateKeyPEM: String, trustRootsPEM: String) {
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
        self.trustRootsPEM = trustRootsPEM
    }
}

extension HTTPClientTLS: CustomStringConvertible {
    /// A summary that never contains key material.
    public var description: String {
        "HTTPClientTLS(clientCertificate: \(certificateChainPEM.isEmpty ? "none" : "present"), trustRoots: \(trustRootsPEM.utf8.count) bytes)"
    }
}
