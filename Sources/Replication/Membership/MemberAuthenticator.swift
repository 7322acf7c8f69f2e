package import Core
package import Foundation
import SwiftASN1
import Synchronization
import X509

/// Decides whether a gossiped member record was written by the node it names, and signs our own.
///
/// A record is taken only when its certificate was issued by the cluster CA and is valid now, names the record's
/// id (CN) and role (OU) and the host of its peer URL (SAN), the node is not revoked, a leader claim comes from a
/// leader-eligible certificate, and the certificate's key signed the record. So whoever relays a record — any
/// node, or an attacker holding a follower's certificate — cannot invent members, impersonate one, raise another
/// node's incarnation or claim the lease for a follower. Certificates already checked are remembered (bounded),
/// so a gossip round costs one signature check per record that is news.
package final class MemberAuthenticator: Sendable {
    private let ca: Certificate
    package let credential: NodeCredential
    private let isRevoked: @Sendable (String) -> Bool
    private let onRefusal: @Sendable (MemberInfo, Refusal) -> Void
    private let checked = Mutex<[String: PeerIdentity]>([:])
    private let ownSigned = Mutex<MemberInfo?>(nil)
    /// Most certificates remembered as checked.
    static let cacheLimit = 2048

    /// Why a record was refused (for tests and the refusal metric).
    package enum Refusal: String, Sendable {
        case unsigned, untrustedCertificate = "untrusted_certificate", wrongIdentity = "wrong_identity", revoked
        case followerClaimsLease = "follower_claims_lease", badSignature = "bad_signature"
    }

    /// `onRefusal` hears of every record refused (metrics, debug log).
    package init(caPEM: String, credential: NodeCredential, isRevoked: @escaping @Sendable (String) -> Bool,
                 onRefusal: @escaping @Sendable (MemberInfo, Refusal) -> Void = { _, _ in }) throws {
        ca = try Certificate(pemEncoded: caPEM)
        self.credential = credential
        self.isRevoked = isRevoked
        self.onRefusal = onRefusal
    }

    package func accepts(_ record: MemberInfo) -> Bool {
        guard let refusal = refusal(of: record) else { return true }
        onRefusal(record, refusal)
        return false
    }

    /// Why `record` must be ignored, or nil when it is authentic.
    package func refusal(of record: MemberInfo, now: Date = Date()) -> Refusal? {
        guard let certificate = record.certificate, let signature = record.signature.flatMap({ Data(base64Encoded: $0) }) else {
            return .unsigned
        }
        guard let identity = identity(ofCertificate: certificate, now: now) else { return .untrustedCertificate }
        guard identity.id == record.id, identity.role.rawValue == record.role,
              let host = URLComponents(string: record.peerURL)?.host, identity.hosts.contains(host) else { return .wrongIdentity }
        if isRevoked(record.id) { return .revoked }
        if record.isLeader && identity.role != .leaderEligible { return .followerClaimsLease }
        guard identity.isValidSignature(Array(signature), for: record.signedBytes) else { return .badSignature }
        return nil
    }

    /// The identity in a record's certificate (base64 DER), checked against the cluster CA; nil if untrusted.
    package func identity(ofCertificate base64: String, now: Date = Date()) -> PeerIdentity? {
        if let known = checked.withLock({ $0[base64] }) { return now <= known.notValidAfter ? known : nil }
        guard let der = Data(base64Encoded: base64),
              let identity = try? ClusterPKI.verifiedIdentity(certificateDER: Array(der), ca: ca, now: now) else { return nil }
        checked.withLock { cache in
            if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[base64] = identity
        }
        return identity
    }

    /// Our own record with our certificate and signature (the last signature is reused while nothing changed).
    package func signed(_ me: MemberInfo) -> MemberInfo {
        var unsigned = me
        unsigned.certificate = Data(credential.certificateDER).base64EncodedString()
        unsigned.signature = nil
        return ownSigned.withLock { last in
            if let previous = last {
                var stripped = previous
                stripped.signature = nil
                if stripped == unsigned { return previous }
            }
            var record = unsigned
            record.signature = Data(credential.sign(unsigned.signedBytes)).base64EncodedString()
            last = record
            return record
        }
    }
}
