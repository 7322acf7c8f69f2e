import Replication
import SMATestSupport

/// The usual cast: a cluster CA, a server certificate for 127.0.0.1 and a client certificate.
struct TestCluster: Sendable {
    static let loopback: [UInt8] = [127, 0, 0, 1]

    let ca: TestCertificateAuthority
    let server: TestIdentity
    let client: TestIdentity

    init() throws {
        self.ca = try TestCertificateAuthority(commonName: "SMA test cluster CA")
        self.server = try ca.issue(commonName: "node-server", ipAddresses: [Self.loopback])
        self.client = try ca.issue(commonName: "node-a")
    }

    /// Client TLS material: the client certificate, trusting only the cluster CA.
    var clientTLS: HTTPClientTLS {
        .init(certificateChainPEM: client.certificatePEM, privateKeyPEM: client.privateKeyPEM, trustRootsPEM: ca.certificatePEM)
    }
}

