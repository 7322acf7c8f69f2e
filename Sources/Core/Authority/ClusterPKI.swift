#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Crypto
public import X509
import SwiftASN1
public import SMAErrors

/// What a node may do in the cluster. It is written into the node's peer certificate (subject OU) by the cluster
/// CA, so a node's role is what the CA granted, never what the node says about itself.
public enum NodeRole: String, Codable, Sendable, CaseIterable {
    /// May take the leader lease, write the log and issue certificates.
    case leaderEligible = "leader-eligible"
    /// Follows the log and validates; never leads.
    case follower
}

/// The cluster's own PKI for the peer channel: a CA and one certificate per node (server + client auth).
///
/// Separate from the device CA: a camera certificate can never open the peer port. A node certificate carries
/// the node's id (CN), its role (OU, see `NodeRole`) and only the node's own peer addresses (SANs).
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

    /// A node certificate: CN = node id, OU = role, SANs for its hosts (IP addresses or DNS names), server and
    /// client auth, 5 years.
    public static func issueNodeCertificate(nodeID: String, role: NodeRole, hosts: [String], ca: Certificate, caKey: P256.Signing.PrivateKey,
                                            now: Date) throws -> (certificate: Certificate, key: P256.Signing.PrivateKey) {
        let key = P256.Signing.PrivateKey()
        let pub = Certificate.PublicKey(key.publicKey)
        let subject = try DistinguishedName {
            CommonName(nodeID)
            OrganizationalUnitName(role.rawValue)
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

    /// The node id and role a certificate names (CN and OU), without checking who issued it: for certificates the
    /// TLS handshake already verified against the cluster CA. A certificate without a role (issued before roles
    /// existed) is a follower: it was never granted more.
    public static func identity(of certificate: Certificate) -> PeerIdentity? {
        guard let id = certificate.subject.commonName, !id.isEmpty,
              let key = P256.Signing.PublicKey(certificate.publicKey) else { return nil }
        let role = certificate.subject.firstValue(of: .RDNAttributeType.organizationalUnitName).flatMap(NodeRole.init(rawValue:)) ?? .follower
        var hosts: [String] = []
        if let san = try? certificate.extensions.subjectAlternativeNames {
            for name in san {
                switch name {
                case .dnsName(let d): hosts.append(d)
                case .ipAddress(let ip) where ip.bytes.count == 4: hosts.append(ip.bytes.map(String.init).joined(separator: "."))
                default: continue
                }
            }
        }
        return PeerIdentity(id: id, role: role, hosts: hosts, publicKey: key, notValidAfter: certificate.notValidAfter)
    }

    /// The identity of a node certificate presented in gossip (DER), checked against the cluster CA: issued by
    /// `ca` (signature), within its validity at `now`, for server and client auth.
    public static func verifiedIdentity(certificateDER der: [UInt8], ca: Certificate, now: Date) throws(PeerIdentityError) -> PeerIdentity {
        guard let cert = try? Certificate(derEncoded: der) else { throw PeerIdentityError(.malformedCertificate, "not a DER certificate") }
        guard cert.issuer == ca.subject, ca.publicKey.isValidSignature(cert.signature, for: cert) else {
            throw PeerIdentityError(.untrustedCertificate, "not issued by the cluster CA")
        }
        guard cert.notValidBefore <= now, now <= cert.notValidAfter else {
            throw PeerIdentityError(.untrustedCertificate, "outside its validity period")
        }
        guard let eku = try? cert.extensions.extendedKeyUsage, eku.contains(.serverAuth), eku.contains(.clientAuth),
              (try? cert.extensions.basicConstraints) != .isCertificateAuthority(maxPathLength: 0) else {
            throw PeerIdentityError(.untrustedCertificate, "not a node certificate")
        }
        guard let identity = identity(of: cert) else { throw PeerIdentityError(.malformedCertificate, "names no node id or has no P-256 key") }
        return identity
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

/// Who a node certificate says its holder is: the node id (CN), the role the CA granted (OU), the node's own
/// addresses (SANs) and its public key, which signs the node's gossiped records.
public struct PeerIdentity: Sendable, Equatable {
    public var id: String
    public var role: NodeRole
    public var hosts: [String]
    public var publicKey: P256.Signing.PublicKey
    public var notValidAfter: Date

    public init(id: String, role: NodeRole, hosts: [String], publicKey: P256.Signing.PublicKey, notValidAfter: Date) {
        self.id = id
        self.role = role
        self.hosts = hosts
        self.publicKey = publicKey
        self.notValidAfter = notValidAfter
    }

    public static func == (a: PeerIdentity, b: PeerIdentity) -> Bool {
        a.id == b.id && a.role == b.role && a.hosts == b.hosts && a.publicKey.rawRepresentation == b.publicKey.rawRepresentation
            && a.notValidAfter == b.notValidAfter
    }

    /// Whether `signature` (DER ECDSA P-256 over SHA-256) was made by this node's key over `data`.
    public func isValidSignature(_ signature: [UInt8], for data: [UInt8]) -> Bool {
        guard let sig = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
        return publicKey.isValidSignature(sig, for: data)
    }

    /// The curl pin of this key: `sha256//` + base64 of the SHA-256 of its SubjectPublicKeyInfo DER.
    public var pinnedKey: String {
        "sha256//" + Data(SHA256.hash(data: publicKey.derRepresentation)).base64EncodedString()
    }
}

/// A node's own signing identity: its peer certificate (DER) and private key; signs the records it gossips.
public struct NodeCredential: Sendable {
    public let identity: PeerIdentity
    public let certificateDER: [UInt8]
    private let key: P256.Signing.PrivateKey

    /// The node's certificate and key (PEM, as in `peer_cert_file` / `peer_key_file`); the key must match.
    public init(certificatePEM: String, keyPEM: String) throws(PeerIdentityError) {
        guard let cert = try? Certificate(pemEncoded: certificatePEM), let der = try? cert.serializeAsPEM().derBytes,
              let key = (try? P256.Signing.PrivateKey(pemRepresentation: keyPEM)) else {
            throw PeerIdentityError(.malformedCertificate, "peer certificate or key is not a PEM P-256 certificate and key")
        }
        guard let identity = ClusterPKI.identity(of: cert) else { throw PeerIdentityError(.malformedCertificate, "peer certificate names no node id") }
        guard identity.publicKey.rawRepresentation == key.publicKey.rawRepresentation else {
            throw PeerIdentityError(.malformedCertificate, "peer key does not belong to the peer certificate")
        }
        self.identity = identity
        self.certificateDER = der
        self.key = key
    }

    /// DER ECDSA signature over `data`.
    public func sign(_ data: [UInt8]) -> [UInt8] {
        Array((try! key.signature(for: data)).derRepresentation)
    }
}

/// A peer certificate or signed record that cannot be trusted.
public struct PeerIdentityError: CodedError {
    public enum Code: String, Sendable, CustomStringConvertible {
        case malformedCertificate = "malformed_certificate"
        case untrustedCertificate = "untrusted_certificate"
        public var description: String { rawValue }
    }
    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }
}
