import Crypto
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

    @Test func everyChangeKindRoundTrips() throws {
        let changes: [LogChange] = [
            .keyTablesCreated(.init(tables: [.init(id: 0, sealedMasterKey: "00ff")])),
            .authorityInstalled(.init(rootPEM: "R", intermediatePEM: "I")),
            .deviceProvisioned(.init(serial: "S", family: "F", nucHash: String(repeating: "a", count: 64), tableIDs: [1, 2, 3],
                                     certificatePEM: "C", publicKeyPEM: "P")),
            .deviceRevoked(.init(serial: "S", reason: "r")),
            .deviceReinstated(.init(serial: "S")),
            .apiKeyCreated(.init(id: 5, name: "n", role: .provisioner, keyHash: "ab")),
            .apiKeyRevoked(.init(id: 5)),
        ]
        for (i, c) in changes.enumerated() {
            let entry = signer.sign(c, seq: Int64(i + 1), epoch: 1, timestampMillis: 0)
            #expect(try signer.verifier.verify(entry) == c)
        }
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
        dir.remove(keyID: 1)
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

    @Test func anUnbrokenChainVerifiesWithItsLastSignature() throws {
        let c = chain(50)
        #expect(try signer.verifier.verifyChain(c).count == 50)
    }

    @Test func alteringAnyEntryBreaksTheChain() {
        let c = chain(20)
        for i in [0, 7, 19] {
            var altered = c
            altered[i].payload[3] ^= 1
            #expect(throws: LogError.self) { try signer.verifier.verifyChain(altered) }
        }
        var dropped = c
        dropped.remove(at: 10)
        #expect(throws: LogError.self) { try signer.verifier.verifyChain(dropped) }
        let forged = LogSigner.generate().signChain((0..<20).map { .deviceRevoked(.init(serial: "S\($0)", reason: "r")) },
                                                    firstSeq: 1, previousHash: LogEntry.genesisHash, epoch: 1, timestampMillis: 0)
        #expect(throws: LogError.self) { try signer.verifier.verifyChain(forged) }
    }
}
