import Core
import Crypto
import Foundation
import SwiftASN1
import Testing

/// The `device_provisioned` payload (docs/ARCHITECTURE.md §2.2.1): new entries carry the certificate once, as DER, in a
/// compact binary form; entries written before it (JSON with PEM) still decode; a peer's bytes never crash the decoder.
@Suite struct ProvisioningPayloadTests {
    static func sample(serial: String = "CAM-Ω-1", family: String = "pi-hq") throws -> LogChange.DeviceProvisioned {
        let key = P256.Signing.PrivateKey()
        let ca = try CertificateAuthority.generate(manufacturer: "SIMULATED_MFG", now: Date())
        let profile = CertificateAuthority.DeviceProfile(serial: serial, family: family, manufacturer: "SIMULATED_MFG", maEndpoint: "http://x/validate")
        let der = try ca.authority.issueDeviceCertificate(profile, publicKey: key.publicKey, now: Date()).serializeAsPEM().derBytes
        return .init(serial: serial, family: family, nucDigest: NUCDigest(Bytes32((0..<32).map { _ in UInt8.random(in: 0...255) })!),
                     tableIDs: KeyTableTriple([2_499, 0, 1_234])!, certificateDER: der)
    }

    static func decode(_ payload: [UInt8]) throws -> LogChange {
        try LogEntry(seq: 1, previousHash: LogEntry.genesisHash, epoch: 1, timestampMillis: 0, kind: .deviceProvisioned, payload: payload).change()
    }

    @Test func newPayloadsAreBinaryWithTheDERAndDecodeToTheSameChange() throws {
        let d = try Self.sample()
        let payload = LogChange.deviceProvisioned(d).encodedPayload()
        #expect(payload.first == 0x01)
        #expect(payload.count == 1 + 2 + d.serial.utf8.count + 2 + d.family.utf8.count + 32 + 6 + 2 + d.certificateDER.count)
        #expect(try Self.decode(payload) == .deviceProvisioned(d))
        #expect(d.publicKeyPEM?.hasPrefix("-----BEGIN PUBLIC KEY-----") == true)
    }

    @Test func jsonPayloadsOfEarlierVersionsStillDecode() throws {
        let d = try Self.sample()
        let object: [String: Any] = ["certificatePEM": d.certificatePEM, "family": d.family, "nucDigest": d.nucDigest.hex,
                                     "publicKeyPEM": "ignored", "serial": d.serial, "tableIDs": Array(d.tableIDs)]
        let json = Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        #expect(try Self.decode(json) == .deviceProvisioned(d))
    }

    @Test func everyTruncationAndTrailingByteIsRefused() throws {
        let payload = LogChange.deviceProvisioned(try Self.sample()).encodedPayload()
        for n in 0..<payload.count {
            #expect(throws: LogError.self) { try Self.decode(Array(payload[0..<n])) }
        }
        #expect(throws: LogError.self) { try Self.decode(payload + [0]) }
    }

    @Test func refusesBadFieldsByName() throws {
        let d = try Self.sample()
        var notUTF8 = LogChange.deviceProvisioned(d).encodedPayload()
        notUTF8[3] = 0xFF
        #expect(throws: LogError.self) { try Self.decode(notUTF8) }
        var notDER = d
        notDER.certificateDER[0] = 0x31
        #expect(throws: LogError.self) { try Self.decode(LogChange.deviceProvisioned(notDER).encodedPayload()) }
        var empty = d
        empty.serial = ""
        #expect(throws: LogError.self) { try Self.decode(LogChange.deviceProvisioned(empty).encodedPayload()) }
    }

    /// Random mutations of a genuine payload: each decodes or is refused as malformed, and a decoded one re-encodes
    /// to exactly the bytes it came from (so the decoder reads no byte twice or not at all).
    @Test func mutatedPayloadsDecodeCanonicallyOrAreRefused() throws {
        let payload = LogChange.deviceProvisioned(try Self.sample()).encodedPayload()
        var decoded = 0
        for _ in 0..<20_000 {
            var p = payload
            for _ in 0..<Int.random(in: 1...4) {
                switch Int.random(in: 0..<3) {
                case 0: p[Int.random(in: 0..<p.count)] = UInt8.random(in: 0...255)
                case 1: if p.count > 1 { p.remove(at: Int.random(in: 1..<p.count)) }
                default: p.insert(UInt8.random(in: 0...255), at: Int.random(in: 1...p.count))
                }
            }
            do {
                let change = try Self.decode(p)
                #expect(change.encodedPayload() == p)
                decoded += 1
            } catch {
                #expect(error is LogError)
            }
        }
        #expect(decoded > 0)
    }

    /// The numbers stored in registration_log.kind are fixed forever: existing rows keep them.
    @Test func entryKindNumbersAreFixedAndDistinct() {
        #expect(LogEntryKind.allCases.map(\.storageCode) == Array(1...10))
        for kind in LogEntryKind.allCases { #expect(LogEntryKind(storageCode: kind.storageCode) == kind) }
        #expect(LogEntryKind(storageCode: 0) == nil && LogEntryKind(storageCode: 11) == nil)
    }
}
