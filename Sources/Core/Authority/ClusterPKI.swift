#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Crypto
public import X509
import SwiftASN1

/// The cluster's own PKI for the peer channel: a CA and one certificate per node (server + client auth).
///
/// Separate from the device CA: a camera certificate can never open the peer port.
public enum ClusterPKI {
    /// A new cluster CA (P-256, 20 years).
    public static func makeCA(name: String, now: Date) throws -> (certificate: Certificate, key: P256.Signing.PrivateKey) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            CommonName(name)
            OrganizationName("SMA cluster")
        }
        let pub = Certificate.PublicKey(key.publicKey)
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: pub,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(CertificateAuthority.caValidity),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: pub)
            },
            issuerPrivateKey: .init(key))
        return (cert, key)
    }

    /// A node certificate: CN = node id, SANs for its hosts (IP addresses or DNS names), server and client auth, 5 years.
    public static func issueNodeCertificate(nodeID: String, hosts: [String], ca: Certificate, caKey: P256.Signing.PrivateKey,
                                            now: Date) throws -> (certificate: Certificate, key: P256.Signing.PrivateKey) {
        let key = P256.Signing.PrivateKey()
        let pub = Certificate.PublicKey(key.publicKey)
        let subject = try DistinguishedName {
            CommonName(nodeID)
            OrganizationName("SMA cluster")
        }
        var names: [GeneralName] = []
        for host in hosts {
            if let ip = ipv4Bytes(host) { names.append(.ipAddress(ASN1OctetString(contentBytes: ip[...]))) } else { names.append(.dnsName(host)) }
        }
        let san = SubjectAlternativeNames(names)
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: pub,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(5 * 365.25 * 86_400),
            issuer: ca.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyAgreement: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectKeyIdentifier(hash: pub)
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: ca.publicKey).keyIdentifier)
                san
            },
            issuerPrivateKey: .init(caKey))
        return (cert, key)
    }

    /// The subject CN of a certificate (a peer's node id).
    public static func commonName(of certificate: Certificate) -> String? {
        certificate.subject.commonName
    }

    static func ipv4Bytes(_ s: String) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard let v = UInt8(p) else { return nil }
            out.append(v)
        }
        return out
    }
}
