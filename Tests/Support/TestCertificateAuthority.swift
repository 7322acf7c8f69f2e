public import Crypto
import Foundation
import SwiftASN1
public import X509

/// A certificate and its private key, both PEM.
public struct TestIdentity: Sendable {
    public var certificatePEM: String
    public var privateKeyPEM: String
}

/// A throwaway certificate authority (P-256) that issues leaf certificates for tests.
public struct TestCertificateAuthority: Sendable {
    public let name: DistinguishedName
    public let privateKey: P256.Signing.PrivateKey
    public let certificate: Certificate
    public let certificatePEM: String

    public init(commonName: String) throws {
        let now = Date()
        let name = try DistinguishedName {
            OrganizationName("SMA test")
            CommonName(commonName)
        }
        let privateKey = P256.Signing.PrivateKey()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: .init(privateKey.publicKey),
            notValidBefore: now - 3600,
            notValidAfter: now + 86_400,
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(privateKey.publicKey))
            },
            issuerPrivateKey: .init(privateKey)
        )
        self.name = name
        self.privateKey = privateKey
        self.certificate = certificate
        self.certificatePEM = try certificate.serializeAsPEM().pemString
    }

    /// Issues a leaf for both TLS server and client use; `ipAddresses` become IP SANs, `dnsNames` DNS SANs.
    public func issue(commonName: String, ipAddresses: [[UInt8]] = [], dnsNames: [String] = []) throws -> TestIdentity {
        let now = Date()
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("SMA test")
            CommonName(commonName)
        }
        let names = ipAddresses.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
            + dnsNames.map { GeneralName.dnsName($0) }
        let leaf = try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: .init(key.publicKey),
            notValidBefore: now - 3600,
            notValidAfter: now + 86_400,
            issuer: name,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                if !names.isEmpty {
                    SubjectAlternativeNames(names)
                }
            },
            issuerPrivateKey: .init(privateKey)
        )
        return TestIdentity(certificatePEM: try leaf.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }
}

