import Crypto
import Foundation
import SwiftASN1
import SMATestSupport
import Testing
import X509
@testable import Core

@Suite struct CertificateRevocationListTests {
    static let generated = try! CertificateAuthority.generate(manufacturer: "SIMULATED_MFG", now: Date())
    var ca: CertificateAuthority { Self.generated.authority }
    let profile = CertificateAuthority.DeviceProfile(serial: "CAM-0001", family: "F", manufacturer: "SIMULATED_MFG",
                                                     maEndpoint: "https://sma.example/validate")

    /// Writes the CRL and the chain, runs `openssl crl -verify -text`.
    func openssl(_ der: [UInt8]) throws -> ProcessOutput {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sma-crl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(der).write(to: dir.appendingPathComponent("crl.der"))
        try ca.chainPEM().write(to: dir.appendingPathComponent("chain.pem"), atomically: true, encoding: .utf8)
        return try run("/usr/bin/openssl", ["crl", "-inform", "DER", "-in", dir.appendingPathComponent("crl.der").path,
                                            "-CAfile", dir.appendingPathComponent("chain.pem").path, "-verify", "-noout", "-text"])
    }

    @Test("openssl verifies the CRL against the chain and lists the revoked serial, reason, number and AKI")
    func opensslVerifiesTheCRLAndListsTheRevokedSerial() throws {
        let cert = try ca.issueDeviceCertificate(profile, publicKey: P256.Signing.PrivateKey().publicKey, now: Date())
        let serial = Array(cert.serialNumber.bytes)
        let now = Date()
        let der = try ca.issueCRL(number: 42, thisUpdate: now, nextUpdate: now.addingTimeInterval(86_400), entries: [
            .init(serialNumber: serial, revocationDate: now.addingTimeInterval(-60), reason: .keyCompromise),
            .init(serialNumber: [0x01, 0x02], revocationDate: now.addingTimeInterval(-120)),
        ])
        let out = try openssl(der)
        #expect(out.status == 0, "\(out.output)")
        #expect(out.output.contains("verify OK"), "\(out.output)")
        let hex = serial.drop { $0 == 0 }.map { String(format: "%02X", $0) }.joined()
        #expect(out.output.uppercased().contains("SERIAL NUMBER: \(hex)"), "\(out.output)")
        #expect(out.output.contains("0102"))
        #expect(out.output.contains("Key Compromise"))
        #expect(out.output.contains("X509v3 CRL Number") && out.output.contains("42"))
        #expect(out.output.contains("X509v3 Authority Key Identifier"))
        #expect(out.output.contains("Next Update"))
    }

    @Test("an empty CRL (nothing revoked) verifies too")
    func emptyCRLVerifies() throws {
        let now = Date()
        let der = try ca.issueCRL(number: 1, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600), entries: [])
        let out = try openssl(der)
        #expect(out.status == 0 && out.output.contains("verify OK"), "\(out.output)")
        #expect(out.output.contains("No Revoked Certificates"))
    }

    @Test("a CRL signed by another authority's key does not verify")
    func crlFromAnotherKeyFailsVerification() throws {
        let now = Date()
        let der = try CertificateRevocationList.make(issuer: ca.intermediate, issuerKey: P256.Signing.PrivateKey(), number: 1,
                                                     thisUpdate: now, nextUpdate: now.addingTimeInterval(3600), entries: [])
        let out = try openssl(der)
        #expect(!out.output.contains("verify OK"))
    }

    @Test("PEM armour and UTC dates")
    func pemAndDates() throws {
        let pem = CertificateRevocationList.pem(Array(repeating: 0xAB, count: 100))
        #expect(pem.hasPrefix("-----BEGIN X509 CRL-----\n") && pem.hasSuffix("-----END X509 CRL-----\n"))
        #expect(CertificateRevocationList.utc(Date(timeIntervalSince1970: 951_782_400)) == (2000, 2, 29, 0, 0, 0))
        #expect(CertificateRevocationList.utc(Date(timeIntervalSince1970: 2_556_143_999)) == (2050, 12, 31, 23, 59, 59))
        #expect(CertificateRevocationList.ReasonCode(reasonText: "key_compromise") == .keyCompromise)
        #expect(CertificateRevocationList.ReasonCode(reasonText: "stolen") == nil)
    }
}
