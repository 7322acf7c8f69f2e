import Crypto
import Foundation
import SwiftASN1
import SMAErrors
import Testing
@testable import Core

@Suite struct KeyEncryptionKeyTests {
    @Test func sealedSecretOpensOnlyWithTheSameKEKAndLabel() throws {
        let (kek, text) = KeyEncryptionKey.generate()
        let secret = (0..<32).map { UInt8($0) }
        let sealed = kek.seal(secret, label: "key_table:7")
        #expect(!sealed.windowContaining(secret))
        #expect(try kek.open(sealed, label: "key_table:7") == secret)
        #expect(try KeyEncryptionKey(fileContents: "  " + text + "\n\n").open(sealed, label: "key_table:7") == secret)
        #expect(throws: AuthorityError(.decryptionFailed, "")) { try kek.open(sealed, label: "key_table:8") }
        let other = KeyEncryptionKey.generate().kek
        do {
            _ = try other.open(sealed, label: "key_table:7")
            Issue.record("a foreign KEK opened the secret")
        } catch {
            #expect(error.description.contains("wrong KEK"))
            #expect(error.description.contains(other.fingerprint))
            #expect(!error.description.contains(Hex.encode(secret)))
        }
    }

    @Test func malformedKEKFileIsRefusedWithAClearMessage() {
        for bad in ["", "abc", String(repeating: "zz", count: 32), String(repeating: "ab", count: 31)] {
            #expect(throws: AuthorityError(.malformedKey, "")) { try KeyEncryptionKey(fileContents: bad) }
        }
    }
}

@Suite struct LogSigningTests {
    let signer = LogSigner.generate()
    let change = LogChange.deviceRevoked(.init(serial: "CAM-1", reason: "stolen"))

    @Test func signedEntryVerifiesAndDecodes() throws {
        let entry = signer.sign(change, seq: 42, epoch: 3, timestampMillis: 1_700_000_000_000)
        #expect(entry.kind == .deviceRevoked)
        #expect(try signer.verifier.verify(entry) == change)
    }

    @Test func anyAlteredFieldBreaksTheSignature() {
        let entry = signer.sign(change, seq: 42, epoch: 3, timestampMillis: 1)
        var alterations: [LogEntry] = []
        var e = entry; e.seq = 43; alterations.append(e)
        e = entry; e.epoch = 4; alterations.append(e)
        e = entry; e.timestampMillis = 2; alterations.append(e)
        e = entry; e.kind = .deviceReinstated; alterations.append(e)
        e = entry; e.payload[5] ^= 1; alterations.append(e)
        e = entry; e.signature = []; alterations.append(e)
        for altered in alterations {
            #expect(throws: LogError(.badSignature, seq: altered.seq, "")) { try signer.verifier.verify(altered) }
        }
    }

    @Test func entryFromAnotherKeyIsRefused() {
        let forged = LogSigner.generate().sign(change, seq: 1, epoch: 1, timestampMillis: 1)
        #expect(throws: LogError(.badSignature, seq: 1, "")) { try signer.verifier.verify(forged) }
    }

    /// A real (self-signed) certificate's PEM: the checked `DeviceProvisioned` keeps DER and speaks PEM on the wire.
    static let certificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBeDCCAR+gAwIBAgIUSaKy0sn7VKk2cDSEprBrZjZhlIQwCgYIKoZIzj0EAwIw
        ETEPMA0GA1UEAwwGZGV2aWNlMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAw
        MFowETEPMA0GA1UEAwwGZGV2aWNlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
        zYw0DCnqkuc1CCHsbS/Wp0Ox7vi1dvF1M7O2S0B8g2UhmYZLBvGQwHbXkOR3DCXD
        EPoWOLvYv1E8wXrVc9R3o6NTMFEwHQYDVR0OBBYEFGRjQj5HUa8bBAV4O3BfZTFB
        pNuVMB8GA1UdIwQYMBaAFGRjQj5HUa8bBAV4O3BfZTFBpNuVMA8GA1UdEwEB/wQF
        MAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgV5b2kYJgqA3XbG8cxy0mGZH0S3mD6h8j
        g5CcSx4zb8ECIFWl8dbY4cBC5p0hpGqQ6fLwZn5tQbIu1fTOkZZCMgxp
        -----END CERTIFICATE-----
        """

    @Test func everyChangeKindRoundTrips() throws {
        let der = try PEMDocument(pemString: Self.certificatePEM).derBytes
        let changes: [LogChange] = [
            .keyTablesCreated(.init(tables: [.init(id: 0, sealedMasterKey: [0x00, 0xff])])),
            .keyTablesCreated(.init(tables: [.init(id: 1, sealedMasterKey: [0x01])], sealedNUCDigestKey: [0xaa, 0xbb])),
            .authorityInstalled(.init(rootPEM: Self.certificatePEM, intermediatePEM: Self.certificatePEM)),
            .deviceProvisioned(.init(serial: "S", family: "F", nucDigest: NUCDigest(hex: String(repeating: "a", count: 64))!,
                                     tableIDs: KeyTableTriple([1, 2, 3])!, certificateDER: der)),
            .deviceRevoked(.init(serial: "S", reason: "r")),
            .deviceReinstated(.init(serial: "S")),
            .apiKeyCreated(.init(id: 5, name: "n", role: .provisioner, keyHash: Bytes32(hex: String(repeating: "ab", count: 32))!)),
            .apiKeyRevoked(.init(id: 5)),
            .keyTableRetired(.init(id: 7, effectiveMillis: 1_700_000_000_000)),
            .crlIssued(.init(number: 3, thisUpdateMillis: 1, nextUpdateMillis: 2, der: [0x30, 0x00])),
            .nodeRevoked(.init(nodeID: "r2-n1", reason: "stolen")),
        ]
        #expect(Set(changes.map(\.kind)) == Set(LogEntryKind.allCases))
        for (i, c) in changes.enumerated() {
            let entry = signer.sign(c, seq: Int64(i + 1), epoch: 1, timestampMillis: 0)
            #expect(try signer.verifier.verify(entry) == c)
        }
    }

    /// A payload in the JSON format every log before schema 7 holds decodes to the same change as its binary form.
    @Test func payloadBytesAreUnchangedByTheCheckedTypes() throws {
        let pem = Self.certificatePEM.replacingOccurrences(of: "\n", with: "\\n")
        let nuc = String(repeating: "a1", count: 32)
        let payload = #"{"certificatePEM":"\#(pem)","family":"F","nucDigest":"\#(nuc)","publicKeyPEM":"P","serial":"S","tableIDs":[4,9,2]}"#
        let entry = LogEntry(seq: 1, previousHash: LogEntry.genesisHash, epoch: 1, timestampMillis: 0, kind: .deviceProvisioned,
                             payload: Array(payload.utf8))
        let change = try entry.change()
        guard case .deviceProvisioned(let d) = change else { Issue.record("wrong kind"); return }
        #expect(Array(d.tableIDs) == [4, 9, 2])
        #expect(d.certificatePEM == Self.certificatePEM)
        // New entries are written in the binary form (docs/ARCHITECTURE.md §2.2.1); this entry keeps its own bytes, and so its signature.
        #expect(entry.payload == Array(payload.utf8))
        #expect(try LogEntry(seq: 1, previousHash: LogEntry.genesisHash, epoch: 1, timestampMillis: 0, kind: .deviceProvisioned,
                             payload: change.encodedPayload()).change() == change)
    }

    /// Malformed values are refused once, when the entry is decoded, naming the kind; nothing downstream re-parses them.
    @Test func malformedPayloadFieldsAreRefusedAtDecode() {
        let pem = Self.certificatePEM.replacingOccurrences(of: "\n", with: "\\n")
        let good = String(repeating: "a1", count: 32)
        func device(nuc: String = good, tables: String = "[4,9,2]", cert: String = pem) -> LogEntry {
            let payload = #"{"certificatePEM":"\#(cert)","family":"F","nucDigest":"\#(nuc)","publicKeyPEM":"P","serial":"S","tableIDs":\#(tables)}"#
            return LogEntry(seq: 9, previousHash: LogEntry.genesisHash, epoch: 1, timestampMillis: 0, kind: .deviceProvisioned,
                            payload: Array(payload.utf8))
        }
        for bad in [device(nuc: "zz"), device(nuc: String(repeating: "a", count: 62)), device(tables: "[1,1,2]"), device(tables: "[1,2]"),
                    device(tables: "[1,2,-3]"), device(cert: "not a certificate")] {
            #expect(throws: LogError.self) { try bad.change() }
        }
        let crl = LogEntry(seq: 9, previousHash: LogEntry.genesisHash, epoch: 1, timestampMillis: 0, kind: .crlIssued,
                           payload: Array(#"{"der":"%%%","nextUpdateMillis":2,"number":1,"thisUpdateMillis":1}"#.utf8))
        #expect(throws: LogError.self) { try crl.change() }
        let key = LogEntry(seq: 9, previousHash: LogEntry.genesisHash, epoch: 1, timestampMillis: 0, kind: .apiKeyCreated,
                           payload: Array(#"{"id":1,"keyHash":"ab","name":"n","role":"admin"}"#.utf8))
        #expect(throws: LogError.self) { try key.change() }
    }
}

@Suite struct APIKeyTests {
    @Test func generatedKeysAreDistinctAndAuthenticateByHash() {
        let a = APIKey.generate(), b = APIKey.generate()
        #expect(a != b)
        #expect(a.hasPrefix("sma_") && a.count == 47)
        let dir = APIKeyDirectory()
        dir.add(hash: APIKey.hash(a), principal: Principal(keyID: 1, name: "agg", role: .validator))
        #expect(dir.authenticate(a)?.role == .validator)
        #expect(dir.authenticate(b) == nil)
        dir.revoke(keyID: 1)
        #expect(dir.authenticate(a) == nil)
    }

    @Test func adminMayDoEverythingOthersOnlyTheirRole() {
        #expect(Role.admin.permits(.provisioner) && Role.admin.permits(.validator))
        #expect(Role.validator.permits(.validator) && !Role.validator.permits(.provisioner))
        #expect(!Role.provisioner.permits(.admin))
    }
}

extension Array where Element == UInt8 {
    func windowContaining(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}

@Suite struct LogChainTests {
    let signer = LogSigner.generate()
    func chain(_ n: Int, from prev: [UInt8] = LogEntry.genesisHash) -> [LogEntry] {
        signer.signChain((0..<n).map { .deviceRevoked(.init(serial: "S\($0)", reason: "r")) }, firstSeq: 1, previousHash: prev, epoch: 1, timestampMillis: 0)
    }

    @Test func everyEntryCarriesTheHashOfTheOneBefore() {
        let c = chain(5)
        #expect(c[0].previousHash == LogEntry.genesisHash)
        for i in 1..<5 { #expect(c[i].previousHash == c[i - 1].hash) }
        // Each entry is still signed on its own.
        for e in c { #expect(throws: Never.self) { try signer.verifier.verify(e) } }
    }

    @Test func alteringAnyEntryBreaksItsSignatureAndTheNextEntrysLink() {
        let c = chain(20)
        for i in [0, 7, 18] {
            var altered = c
            altered[i].payload[3] ^= 1
            #expect(throws: LogError.self) { try signer.verifier.verify(altered[i]) }
            #expect(altered[i + 1].previousHash != altered[i].hash)
        }
    }
}
