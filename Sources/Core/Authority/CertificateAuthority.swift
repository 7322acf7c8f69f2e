#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Crypto
public import X509
public import SwiftASN1

/// The SMA certificate authority: root -> intermediate -> device (docs/ARCHITECTURE.md §1 profile).
///
/// Holds the intermediate's private key; the root key is only needed to create the
/// hierarchy and stays sealed in storage afterwards.
public struct CertificateAuthority: Sendable {
    public let root: Certificate
    public let intermediate: Certificate
    let intermediateKey: P256.Signing.PrivateKey

    /// Device certificates are valid this long (~10 years).
    public static let deviceValidity: TimeInterval = 10 * 365.25 * 86_400
    public static let caValidity: TimeInterval = 20 * 365.25 * 86_400

    public init(root: Certificate, intermediate: Certificate, intermediateKey: P256.Signing.PrivateKey) throws(AuthorityError) {
        guard intermediate.publicKey == Certificate.PublicKey(intermediateKey.publicKey) else {
            throw AuthorityError(.keyMismatch, "intermediate CA key does not match its certificate")
        }
        guard root.publicKey.isValidSignature(intermediate.signature, for: intermediate) else {
            throw AuthorityError(.keyMismatch, "intermediate CA certificate is not signed by the root")
        }
        self.root = root
        self.intermediate = intermediate
        self.intermediateKey = intermediateKey
    }

    /// A fresh hierarchy: the root and intermediate certificates and both private keys.
    public struct Generated: Sendable {
        public var authority: CertificateAuthority
        public var rootKey: P256.Signing.PrivateKey
        public var intermediateKey: P256.Signing.PrivateKey
    }

    /// Generates a new root and intermediate for `manufacturer`.
    public static func generate(manufacturer: String, now: Date) throws -> Generated {
        let rootKey = P256.Signing.PrivateKey()
        let interKey = P256.Signing.PrivateKey()
        let rootName = try DistinguishedName {
            CommonName("\(manufacturer) SMA Root CA")
            OrganizationName(manufacturer)
        }
        let interName = try DistinguishedName {
            CommonName("\(manufacturer) SMA Intermediate CA")
            OrganizationName(manufacturer)
        }
        let rootPublic = Certificate.PublicKey(rootKey.publicKey)
        let interPublic = Certificate.PublicKey(interKey.publicKey)
        let notBefore = now.addingTimeInterval(-3600)
        let root = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: rootPublic,
            notValidBefore: notBefore, notValidAfter: now.addingTimeInterval(caValidity),
            issuer: rootName, subject: rootName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 1))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: rootPublic)
            },
            issuerPrivateKey: Certificate.PrivateKey(rootKey))
        let intermediate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: interPublic,
            notValidBefore: notBefore, notValidAfter: now.addingTimeInterval(caValidity - 86_400),
            issuer: rootName, subject: interName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: interPublic)
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: rootPublic).keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(rootKey))
        let authority = try CertificateAuthority(root: root, intermediate: intermediate, intermediateKey: interKey)
        return Generated(authority: authority, rootKey: rootKey, intermediateKey: interKey)
    }

    /// What goes into a device certificate.
    public struct DeviceProfile: Sendable {
        public var serial: String
        public var family: String
        public var manufacturer: String
        /// The URL aggregators validate against (maEndpoint extension).
        public var maEndpoint: String
        public init(serial: String, family: String, manufacturer: String, maEndpoint: String) {
            self.serial = serial
            self.family = family
            self.manufacturer = manufacturer
            self.maEndpoint = maEndpoint
        }
    }

    /// Issues a device certificate for `publicKey` (P-256, ~10 years, CA:false, digitalSignature, SKI/AKI, Birthmark extensions).
    public func issueDeviceCertificate(_ profile: DeviceProfile, publicKey: P256.Signing.PublicKey, now: Date) throws -> Certificate {
        let devicePublic = Certificate.PublicKey(publicKey)
        let subject = try DistinguishedName {
            CommonName(profile.serial)
            OrganizationName(profile.manufacturer)
        }
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: devicePublic,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Self.deviceValidity),
            issuer: intermediate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                SubjectKeyIdentifier(hash: devicePublic)
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: intermediate.publicKey).keyIdentifier)
                try Self.utf8Extension(BirthmarkOID.manufacturerID, profile.manufacturer)
                try Self.utf8Extension(BirthmarkOID.maEndpoint, profile.maEndpoint)
                try Self.utf8Extension(BirthmarkOID.deviceFamily, profile.family)
            },
            issuerPrivateKey: Certificate.PrivateKey(intermediateKey))
    }

    /// intermediate + root, PEM (the provisioning file's `certificate_chain`).
    public func chainPEM() throws -> String {
        try intermediate.serializeAsPEM().pemString + "\n" + root.serializeAsPEM().pemString + "\n"
    }

    /// True when `certificate` was signed by this authority's intermediate and is within validity at `now`.
    public func verifyDeviceCertificate(_ certificate: Certificate, now: Date) -> FailureReason? {
        Self.verifyDeviceCertificate(certificate, intermediate: intermediate, now: now)
    }

    /// The same check with only the intermediate's certificate (nodes without the CA key).
    public static func verifyDeviceCertificate(_ certificate: Certificate, intermediate: Certificate, now: Date) -> FailureReason? {
        guard certificate.issuer == intermediate.subject,
              intermediate.publicKey.isValidSignature(certificate.signature, for: certificate) else {
            return .certificateUntrusted
        }
        guard certificate.notValidBefore <= now, now <= certificate.notValidAfter else {
            return .certificateExpired
        }
        return nil
    }

    static func utf8Extension(_ oid: ASN1ObjectIdentifier, _ value: String) throws -> Certificate.Extension {
        var serializer = DER.Serializer()
        try serializer.serialize(ASN1UTF8String(value))
        return Certificate.Extension(oid: oid, critical: false, value: serializer.serializedBytes[...])
    }

    /// Reads a Birthmark UTF8String extension from a certificate.
    public static func utf8ExtensionValue(_ oid: ASN1ObjectIdentifier, in certificate: Certificate) -> String? {
        guard let ext = certificate.extensions[oid: oid],
              let s = try? ASN1UTF8String(derEncoded: ext.value) else { return nil }
        return String(s)
    }
}
