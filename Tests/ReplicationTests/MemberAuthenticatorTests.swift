import Core
import Crypto
import Foundation
@testable import Replication
import SwiftASN1
import Testing
import X509

/// Gossiped member records are believed only when the node they name signed them with the key of its cluster
/// certificate, whoever relays them (issue 10: a follower's stolen certificate must not rewrite the table).
@Suite struct MemberAuthenticatorTests {
    struct Node {
        var record: MemberInfo
        var credential: NodeCredential
    }

    let ca = try! ClusterPKI.makeCA(name: "test cluster CA", now: Date())
    var caPEM: String { try! ca.certificate.serializeAsPEM().pemString }

    func node(_ id: String, role: NodeRole, host: String = "127.0.0.1", ca: (certificate: Certificate, key: P256.Signing.PrivateKey)? = nil) throws -> Node {
        let issuer = ca ?? self.ca
        let issued = try ClusterPKI.issueNodeCertificate(nodeID: id, role: role, hosts: [host], ca: issuer.certificate, caKey: issuer.key, now: Date())
        let credential = try NodeCredential(certificatePEM: try issued.certificate.serializeAsPEM().pemString, keyPEM: issued.key.pemRepresentation)
        let record = MemberInfo(id: id, region: "r1", role: role.rawValue, peerURL: "https://\(host):9000", publicURL: "http://\(host):8000",
                                heartbeat: 5, appliedSeq: 10, incarnation: 1)
        return Node(record: record, credential: credential)
    }

    func authenticator(as me: Node, revoked: Set<String> = []) throws -> MemberAuthenticator {
        try MemberAuthenticator(caPEM: caPEM, credential: me.credential, isRevoked: { revoked.contains($0) })
    }

    func signed(_ record: MemberInfo, by node: Node) throws -> MemberInfo {
        try MemberAuthenticator(caPEM: caPEM, credential: node.credential, isRevoked: { _ in false }).signed(record)
    }

    @Test func aRecordSignedByTheNodeItNamesIsAccepted() throws {
        let a1 = try node("a1", role: .leaderEligible), b1 = try node("b1", role: .follower)
        var claim = a1.record
        claim.isLeader = true
        claim.leaderEpoch = 3
        let check = try authenticator(as: b1)
        #expect(check.refusal(of: try signed(claim, by: a1)) == nil)
        #expect(check.refusal(of: try signed(b1.record, by: b1)) == nil)
    }

    @Test func unsignedAndAlteredRecordsAreRefused() throws {
        let a1 = try node("a1", role: .leaderEligible), b1 = try node("b1", role: .follower)
        let check = try authenticator(as: a1)
        #expect(check.refusal(of: b1.record) == .unsigned)
        var raised = try signed(b1.record, by: b1)
        raised.incarnation += 1_000_000  // hiding the real node behind a higher incarnation
        #expect(check.refusal(of: raised) == .badSignature)
        var moved = try signed(b1.record, by: b1)
        moved.heartbeat = .max
        #expect(check.refusal(of: moved) == .badSignature)
    }

    @Test func aFollowerCertificateCannotSpeakForAnotherNodeOrClaimTheLease() throws {
        let a1 = try node("a1", role: .leaderEligible), b1 = try node("b1", role: .follower), c1 = try node("c1", role: .follower)
        let check = try authenticator(as: c1)
        // b1's key signs a record in a1's name (with b1's certificate, or with a1's certificate attached).
        var impostor = a1.record
        impostor.incarnation = 99
        impostor.isLeader = true
        impostor.leaderEpoch = 1_000
        var withOwnCert = impostor
        withOwnCert.certificate = Data(b1.credential.certificateDER).base64EncodedString()
        withOwnCert.signature = Data(b1.credential.sign(withOwnCert.signedBytes)).base64EncodedString()
        #expect(check.refusal(of: withOwnCert) == .wrongIdentity)
        var withVictimCert = impostor
        withVictimCert.certificate = Data(a1.credential.certificateDER).base64EncodedString()
        withVictimCert.signature = Data(b1.credential.sign(withVictimCert.signedBytes)).base64EncodedString()
        #expect(check.refusal(of: withVictimCert) == .badSignature)
        // b1 claims the lease for itself, with a high epoch and its own URL: followers never lead.
        var claim = b1.record
        claim.isLeader = true
        claim.leaderEpoch = 1_000
        #expect(check.refusal(of: try signed(claim, by: b1)) == .followerClaimsLease)
        // b1 says it is leader-eligible: its certificate says otherwise.
        var promoted = b1.record
        promoted.role = NodeRole.leaderEligible.rawValue
        #expect(check.refusal(of: try signed(promoted, by: b1)) == .wrongIdentity)
        // b1 advertises another node's peer URL (to receive forwarded writes): its certificate does not name it.
        var redirected = b1.record
        redirected.peerURL = "https://10.9.9.9:9000"
        #expect(check.refusal(of: try signed(redirected, by: b1)) == .wrongIdentity)
    }

    @Test func foreignCertificatesAndRevokedNodesAreRefused() throws {
        let a1 = try node("a1", role: .leaderEligible)
        let foreignCA = try ClusterPKI.makeCA(name: "foreign", now: Date())
        let stranger = try node("x1", role: .leaderEligible, ca: foreignCA)
        #expect(try authenticator(as: a1).refusal(of: try signed(stranger.record, by: stranger)) == .untrustedCertificate)
        let b1 = try node("b1", role: .follower)
        #expect(try authenticator(as: a1, revoked: ["b1"]).refusal(of: try signed(b1.record, by: b1)) == .revoked)
    }

    @Test func theMemberTableIgnoresForgeriesAndExpelsRevokedNodes() throws {
        let a1 = try node("a1", role: .leaderEligible), b1 = try node("b1", role: .follower), c1 = try node("c1", role: .follower)
        let check = try authenticator(as: c1)
        let now = ContinuousClock.now
        var table = Membership(me: c1.record, timing: .lan, now: now)
        table.merge([try signed(a1.record, by: a1), try signed(b1.record, by: b1)], now: now, authentic: check.accepts)
        var forged = a1.record
        forged.incarnation = 50
        forged.isLeader = true
        forged.leaderEpoch = 9
        var lease = b1.record
        lease.heartbeat += 1
        lease.isLeader = true
        lease.leaderEpoch = 10
        table.merge([forged, try signed(lease, by: b1)], now: now, authentic: check.accepts)
        #expect(table.member(id: "a1")?.info.incarnation == 1)
        #expect(table.leader == nil)
        let wasMember = table.expel("b1", now: now)
        #expect(wasMember)
        table.merge([try signed(MemberInfo(id: "b1", region: "r1", role: "follower", peerURL: "https://127.0.0.1:9000",
                                           publicURL: "http://127.0.0.1:8000", heartbeat: 99, incarnation: 99), by: b1)], now: now, authentic: check.accepts)
        #expect(table.member(id: "b1") == nil)
    }
}
