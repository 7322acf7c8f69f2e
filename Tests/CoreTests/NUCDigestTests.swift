@testable import Core
import Crypto
import Foundation
import SwiftASN1
import Testing

@Suite struct NUCDigestTests {
    /// The precomputed-schedule HMAC on libcrypto is byte-for-byte swift-crypto's `HMAC<SHA256>`.
    @Test func digesterEqualsHMACSHA256OnRandomInputs() {
        for _ in 0..<200 {
            let key = Bytes32((0..<32).map { _ in UInt8.random(in: 0...255) })!
            let digester = NUCDigester(key: key)
            for _ in 0..<20 {
                let nuc = NUCHash(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!
                let reference = HMAC<SHA256>.authenticationCode(for: nuc.bytes, using: SymmetricKey(data: key.bytes))
                #expect(digester.digest(nuc).bytes == Array(reference))
            }
        }
    }

    @Test func digestDependsOnTheKey() {
        let nuc = NUCHash(bytes: [UInt8](repeating: 7, count: 32))!
        let a = NUCDigester(key: Bytes32([UInt8](repeating: 1, count: 32))!).digest(nuc)
        let b = NUCDigester(key: Bytes32([UInt8](repeating: 2, count: 32))!).digest(nuc)
        #expect(a != b)
        #expect(a.bytes != nuc.bytes)
        #expect(!String(describing: a).contains(a.hex))
    }

    /// A registry without the digest key validates nothing (it could not find any device).
    @Test func registryWithoutDigestKeyPassesNothing() throws {
        let masters = (0..<10).map { _ in Bytes32((0..<32).map { _ in UInt8.random(in: 0...255) })! }
        let nuc = NUCHash(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!
        let r = Registry()
        r.installKeyTables(KeyTables(masterKeys: masters))
        try r.insert(RegisteredDevice(serial: "CAM-1", nucHash: nuc, tableIDs: [3, 4, 5]))
        let token = TestCamera.token(nuc: nuc, master: masters[3], table: 3, keyIndex: 5)
        #expect(r.validate(token) != .pass)
        r.installNUCDigestKey(testNUCDigestKey)
        #expect(r.validate(token) == .pass)
        #expect(r.device(nucDigest: testNUCDigester.digest(nuc))?.serial == "CAM-1")
    }

    /// Entries of a log from before NUC digests (`nucHash` in the payload) are refused as malformed everywhere; only
    /// the migration reads them (docs/ARCHITECTURE.md §3.2).
    @Test func provisioningPayloadWithRawNUCHashIsRefused() {
        let pem = LogSigningTests.certificatePEM.replacingOccurrences(of: "\n", with: "\\n")
        let nuc = String(repeating: "a1", count: 32)
        let payload = #"{"certificatePEM":"\#(pem)","family":"F","nucHash":"\#(nuc)","publicKeyPEM":"P","serial":"S","tableIDs":[4,9,2]}"#
        let entry = LogEntry(seq: 1, previousHash: LogEntry.genesisHash, epoch: 1, timestampMillis: 0, kind: .deviceProvisioned,
                             payload: Array(payload.utf8))
        #expect(throws: LogError.self) { try entry.change() }
    }

    /// New payloads carry the digest and never the hash.
    @Test func provisioningPayloadCarriesOnlyTheDigest() throws {
        let nuc = NUCHash(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!
        let der = try PEMDocument(pemString: LogSigningTests.certificatePEM).derBytes
        let change = LogChange.deviceProvisioned(.init(serial: "S", family: "F", nucDigest: testNUCDigester.digest(nuc),
                                                       tableIDs: KeyTableTriple([1, 2, 3])!, certificateDER: der))
        let payload = change.encodedPayload()
        let entry = LogEntry(seq: 1, previousHash: LogEntry.genesisHash, epoch: 1, timestampMillis: 0, kind: .deviceProvisioned, payload: payload)
        guard case .deviceProvisioned(let decoded) = try entry.change() else { Issue.record("not a provisioning"); return }
        #expect(decoded.nucDigest == testNUCDigester.digest(nuc))
        #expect(!(0...(payload.count - 32)).contains { Array(payload[$0..<($0 + 32)]) == nuc.bytes })
        #expect(!String(decoding: payload, as: UTF8.self).contains(nuc.hex))
    }
}

/// The token open (OpenSSL's EVP AES-256-GCM, one context per thread) answers exactly as swift-crypto: every
/// genuine token opens, and any flipped bit of tag, ciphertext or nonce, or a wrong key, fails.
@Suite struct TokenCipherTests {
    @Test func openEqualsSwiftCryptoOnRandomTokensAndFailsOnEveryFlippedBit() throws {
        for round in 0..<300 {
            var key = (0..<32).map { _ in UInt8.random(in: 0...255) }
            let nuc = NUCHash(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!
            let box = try AES.GCM.seal(nuc.bytes, using: SymmetricKey(data: key))
            let token = CameraToken(ciphertext: Bytes32(box.ciphertext)!, authTag: Bytes16(box.tag)!, nonce: Bytes12(Array(box.nonce))!,
                                    tableID: 0, keyIndex: 0)
            key.withUnsafeBytes { k in #expect(TokenCipher.open(token, key: k.baseAddress!) == .opened(nuc)) }
            // Every bit of tag, ciphertext and nonce on a few rounds; one random bit on the others.
            let flips = round < 3 ? Array(0..<(8 * (16 + 32 + 12))) : [Int.random(in: 0..<(8 * 60))]
            for bit in flips {
                var t = token
                var raw = t.authTag.bytes + t.ciphertext.bytes + t.nonce.bytes
                raw[bit / 8] ^= UInt8(1 << (bit % 8))
                t.authTag = Bytes16(raw[0..<16])!
                t.ciphertext = Bytes32(raw[16..<48])!
                t.nonce = Bytes12(raw[48..<60])!
                key.withUnsafeBytes { k in #expect(TokenCipher.open(t, key: k.baseAddress!) == .authenticationFailed) }
            }
            key[Int.random(in: 0..<32)] ^= 0x01
            key.withUnsafeBytes { k in #expect(TokenCipher.open(token, key: k.baseAddress!) == .authenticationFailed) }
        }
    }
}
