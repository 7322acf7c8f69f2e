package import Core
import Foundation
import Logging
import SwiftASN1
import Synchronization
import X509

/// Builds the CRL of every revoked device certificate, signed by the intermediate CA (leader only: it holds
/// the key), as a `crl_issued` log change inside the write transaction that revoked or reinstated a device.
package final class CRLIssuer: Sendable {
    package let authority: CertificateAuthority
    package let validity: Duration
    /// Device serial -> certificate serial number, so a certificate is parsed once.
    private let serials = Mutex<[DeviceSerial: [UInt8]]>([:])

    package init(authority: CertificateAuthority, validity: Duration) {
        self.authority = authority
        self.validity = validity
    }

    package var validitySeconds: Double { Double(validity.components.seconds) + Double(validity.components.attoseconds) * 1e-18 }

    /// The follow-up of a write: reads the revoked devices in the write's transaction (so the change just applied
    /// is included) and returns the new CRL. Its number is the log head at that point, so numbers increase.
    package var followUp: @Sendable (any CommitReads) throws -> [LogChange] {
        { [self] c in [try change(c)] }
    }

    package func change(_ reads: any CommitReads) throws -> LogChange {
        let number = try reads.logHead()
        let revoked = try reads.revokedCertificates()
        var entries: [CertificateRevocationList.Entry] = []
        entries.reserveCapacity(revoked.count)
        for r in revoked {
            guard let serial = try certificateSerial(device: r.serial, pem: r.certificatePEM) else { continue }
            entries.append(.init(serialNumber: serial, revocationDate: Date(timeIntervalSince1970: Double(r.revokedMillis) / 1000),
                                 reason: r.reason.flatMap(CertificateRevocationList.ReasonCode.init(reasonText:))))
        }
        let now = Date()
        let thisUpdate = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let nextUpdate = thisUpdate.addingTimeInterval(validitySeconds)
        let der = try authority.issueCRL(number: number, thisUpdate: thisUpdate, nextUpdate: nextUpdate, entries: entries)
        return .crlIssued(.init(number: number, thisUpdateMillis: Int64(thisUpdate.timeIntervalSince1970 * 1000),
                                nextUpdateMillis: Int64(nextUpdate.timeIntervalSince1970 * 1000), der: der))
    }

    private func certificateSerial(device: String, pem: String) throws -> [UInt8]? {
        // Keyed by the serial's bytes: two canonically equivalent spellings are two devices (§1.4).
        let device = DeviceSerial(unchecked: device)
        if let known = serials.withLock({ $0[device] }) { return known }
        guard let cert = try? Certificate(pemEncoded: pem) else { return nil }
        let bytes = Array(cert.serialNumber.bytes)
        serials.withLock { $0[device] = bytes }
        return bytes
    }
}
