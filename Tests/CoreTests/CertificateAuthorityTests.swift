import Crypto
import Foundation
import SwiftASN1
import SMATestSupport
import Testing
import X509
@testable import Core

@Suite struct CertificateAuthorityTests {
    static let generated = try! CertificateAuthority.generate(manufacturer: "SIMULATED_MFG", now: Date())
    var ca: CertificateAuthority { Self.generated.authority }
    let profile = CertificateAuthority.DeviceProfile(serial: "CAM-0001", family: "Raspberry Pi", manufacturer: "SIMULATED_MFG",
                                                     maEndpoint: "https://sma.example/validate")

    @Test func deviceCertificateHasTheBirthmarkProfile() throws {
        let key = P256.Signing.PrivateKey()
        let cert = try ca.issueDeviceCertificate(profile, publicKey: key.publicKey, now: Date())
        #expect(cert.subject.description.contains("CN=CAM-0001"))
        #expect(cert.subject.description.contains("O=SIMULATED_MFG"))
        #expect(cert.issuer == ca.intermediate.subject)
        #expect(try cert.extensions.basicConstraints == .notCertificateAuthority)
        #expect(try cert.extensions.keyUsage?.digitalSignature == true)
        #expect(try cert.extensions.subjectKeyIdentifier != nil)
        #expect(try cert.extensions.authorityKeyIdentifier?.keyIdentifier == ca.intermediate.extensions.subjectKeyIdentifier?.keyIdentifier)
        #expect(CertificateAuthority.utf8ExtensionValue(BirthmarkOID.manufacturerID, in: cert) == "SIMULATED_MFG")
        #expect(CertificateAuthority.utf8ExtensionValue(BirthmarkOID.maEndpoint, in: cert) == "https://sma.example/validate")
        #expect(CertificateAuthority.utf8ExtensionValue(BirthmarkOID.deviceFamily, in: cert) == "Raspberry Pi")
        let years = cert.notValidAfter.timeIntervalSince(cert.notValidBefore) / (365.25 * 86400)
        #expect(years > 9.9 && years < 10.1)
        #expect(ca.verifyDeviceCertificate(cert, now: Date()) == nil)
    }

    @Test func opensslVerifiesTheDeviceCertificateAgainstTheChain() throws {
        let cert = try ca.issueDeviceCertificate(profile, publicKey: P256.Signing.PrivateKey().publicKey, now: Date())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sma-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try ca.root.serializeAsPEM().pemString.write(to: dir.appendingPathComponent("root.pem"), atomically: true, encoding: .utf8)
        try ca.intermediate.serializeAsPEM().pemString.write(to: dir.appendingPathComponent("inter.pem"), atomically: true, encoding: .utf8)
        try cert.serializeAsPEM().pemString.write(to: dir.appendingPathComponent("device.pem"), atomically: true, encoding: .utf8)
        try ca.chainPEM().write(to: dir.appendingPathComponent("chain.pem"), atomically: true, encoding: .utf8)

        let verify = try run("/usr/bin/openssl", ["verify", "-CAfile", dir.appendingPathComponent("root.pem").path,
                                                  "-untrusted", dir.appendingPathComponent("chain.pem").path,
                                                  dir.appendingPathComponent("device.pem").path])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output.contains("device.pem: OK"))

        let text = try run("/usr/bin/openssl", ["x509", "-in", dir.appendingPathComponent("device.pem").path, "-noout", "-text"]).output
        #expect(text.contains("1.3.6.1.4.1.60000.1.1"))
        #expect(text.contains("1.3.6.1.4.1.60000.1.2"))
        #expect(text.contains("1.3.6.1.4.1.60000.1.6"))
        #expect(text.contains("CA:FALSE"))
        #expect(text.contains("Digital Signature"))
        #expect(text.contains("X509v3 Subject Key Identifier"))
        #expect(text.contains("X509v3 Authority Key Identifier"))
        #expect(text.contains("ecdsa-with-SHA256"))
        #expect(text.contains("prime256v1") || text.contains("P-256"))
    }

    @Test func certificateFromAnotherAuthorityIsUntrusted() throws {
        let other = try CertificateAuthority.generate(manufacturer: "SIMULATED_MFG", now: Date()).authority
        let cert = try other.issueDeviceCertificate(profile, publicKey: P256.Signing.PrivateKey().publicKey, now: Date())
        #expect(ca.verifyDeviceCertificate(cert, now: Date()) == .certificateUntrusted)
    }

    @Test func expiredCertificateIsRejected() throws {
        let cert = try ca.issueDeviceCertificate(profile, publicKey: P256.Signing.PrivateKey().publicKey, now: Date())
        #expect(ca.verifyDeviceCertificate(cert, now: Date().addingTimeInterval(11 * 365 * 86400)) == .certificateExpired)
    }

    @Test func intermediateKeyThatDoesNotMatchIsRefused() {
        #expect(throws: AuthorityError(.keyMismatch, "")) {
            try CertificateAuthority(root: ca.root, intermediate: ca.intermediate, intermediateKey: P256.Signing.PrivateKey())
        }
    }

    @Test func signedBundleVerifiesAndTamperedBundleFails() throws {
        let key = P256.Signing.PrivateKey()
        let cert = try ca.issueDeviceCertificate(profile, publicKey: key.publicKey, now: Date())
        let b64 = Data(try cert.serializeAsPEM().pemString.utf8).base64EncodedString()
        var bundle = CertificateBundle(cameraCertificate: b64, imageHash: String(repeating: "AB", count: 32),
                                       timestamp: 1_732_000_000, gpsHash: nil, signature: [])
        let expected = "\(String(repeating: "ab", count: 32))\n\(b64)\n1732000000\n\n"
        #expect(bundle.signedMessage == Array(expected.utf8))
        bundle.signature = Array(try key.signature(for: bundle.signedMessage).derRepresentation)
        #expect(try bundle.verify(against: ca, now: Date()).get() == "CAM-0001")

        var tampered = bundle
        tampered.timestamp += 1
        #expect(throws: FailureReason.signatureInvalid) { try tampered.verify(against: ca, now: Date()).get() }

        var wrongKey = bundle
        wrongKey.signature = Array(try P256.Signing.PrivateKey().signature(for: bundle.signedMessage).derRepresentation)
        #expect(throws: FailureReason.signatureInvalid) { try wrongKey.verify(against: ca, now: Date()).get() }

        var garbage = bundle
        garbage.cameraCertificate = "bm90IGEgY2VydA=="
        #expect(throws: FailureReason.certificateUntrusted) { try garbage.verify(against: ca, now: Date()).get() }
    }

    @Test func gpsHashIsPartOfTheSignedMessage() {
        let bundle = CertificateBundle(cameraCertificate: "Q0VSVA==", imageHash: "aa", timestamp: 5, gpsHash: "CC", signature: [])
        #expect(bundle.signedMessage == Array("aa\nQ0VSVA==\n5\ncc\n".utf8))
    }
}

