/// Options applied to every transfer of one client, converted once to what libcurl takes.
struct CurlTransferOptions: Sendable {
    /// PEM bytes for CURLOPT_SSLCERT_BLOB/SSLKEY_BLOB/CAINFO_BLOB; nil for no TLS material.
    struct TLSMaterial: Sendable {
        /// Client certificate chain; empty when no client certificate is presented.
        var certificateChain: [UInt8]
        /// Client private key; empty when no client certificate is presented.
        var privateKey: [UInt8]
        /// The only trusted CAs.
        var trustRoots: [UInt8]
    }

    /// TLS material, or nil for plain http (and https verified against the system store).
    var tls: TLSMaterial?
    /// CURLOPT_CONNECTTIMEOUT_MS, at least 1.
    var connectTimeoutMilliseconds: Int
    /// CURLOPT_TIMEOUT_MS for the whole request, at least 1.
    var requestTimeoutMilliseconds: Int
    /// Largest response body accepted.
    var maxResponseBytes: Int
    /// CURLOPT_INTERFACE value ("host!<address>"): the local address outgoing connections bind to; nil lets the system choose.
    var interface: String?

    init(tls: HTTPClientTLS?, connectTimeout: Duration, requestTimeout: Duration, maxResponseBytes: Int, sourceAddress: String? = nil) {
        self.tls = tls.map { tls in
            let hasClientCertificate = !tls.certificateChainPEM.isEmpty
            return TLSMaterial(
                certificateChain: hasClientCertificate ? Array(tls.certificateChainPEM.utf8) : [],
                privateKey: hasClientCertificate ? Array(tls.privateKeyPEM.utf8) : [],
                trustRoots: Array(tls.trustRootsPEM.utf8)
            )
        }
        self.connectTimeoutMilliseconds = Self.milliseconds(connectTimeout)
        self.requestTimeoutMilliseconds = Self.milliseconds(requestTimeout)
        self.maxResponseBytes = maxResponseBytes
        // "host!" makes curl bind to this address (never an interface name).
        self.interface = sourceAddress.map { "host!\($0)" }
    }

    /// Whole milliseconds, rounded up and at least 1 (curl treats 0 as "no timeout").
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 1 }
        guard seconds < Int64(Int32.max) else { return Int(Int32.max) * 1000 }
        let fraction = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return max(1, Int(seconds) * 1000 + Int(fraction))
    }
}
