import Crypto
import Testing
@testable import Core

@Suite struct ConformanceVectorTests {
    @Test func referenceHKDFMatchesEveryVector() {
        for v in Vectors.shared.hkdf {
            let key = KeyDerivation.derivedKey(masterKey: Bytes32(hex: v.master_key)!, keyIndex: v.key_index)
            #expect(key.withUnsafeBytes { Hex.encode($0) } == v.derived_key, "index \(v.key_index)")
        }
    }

    @Test func fastDerivationMatchesEveryVector() {
        for v in Vectors.shared.hkdf {
            var out = [UInt8](repeating: 0, count: 32)
            out.withUnsafeMutableBytes {
                KeyDerivation.deriveKeys(masterKey: Bytes32(hex: v.master_key)!, first: v.key_index, count: 1, into: $0)
            }
            #expect(Hex.encode(out) == v.derived_key, "index \(v.key_index)")
        }
    }

    @Test func fastDerivationEqualsSwiftCryptoHKDFForRandomKeys() {
        for _ in 0..<20 {
            let master = Bytes32((0..<32).map { _ in UInt8.random(in: 0...255) })!
            var all = [UInt8](repeating: 0, count: 32 * 1000)
            all.withUnsafeMutableBytes { KeyDerivation.deriveKeys(masterKey: master, into: $0) }
            for index in [0, 1, 255, 256, 999, Int.random(in: 0..<1000)] {
                let reference = KeyDerivation.derivedKey(masterKey: master, keyIndex: index).withUnsafeBytes { Array($0) }
                #expect(Array(all[(index * 32)..<(index * 32 + 32)]) == reference)
            }
        }
    }

    @Test func everyVectorTokenOpensToItsNUCHash() throws {
        let store = DerivedKeyStore(masterKeys: Vectors.masterKeys())
        for v in Vectors.shared.tokens {
            let token = try v.request.camera_token.cameraToken(tableCount: 2500)
            let result = store.withKey(table: token.tableID, index: token.keyIndex) { TokenCipher.open(token, key: $0) }
            #expect(result == .opened(NUCHash(hex: v.nuc_hash)!), "table \(v.table_id) key \(v.key_index)")
        }
    }

    @Test func everyVectorPassesForItsRegisteredDevice() throws {
        let registry = Registry()
        registry.installKeyTables(KeyTables(masterKeys: Vectors.masterKeys()))
        registry.installNUCDigestKey(testNUCDigestKey)
        for (i, v) in Vectors.shared.tokens.enumerated() {
            let others = [(v.table_id + 1) % 2500, (v.table_id + 2) % 2500]
            try registry.insert(RegisteredDevice(serial: "CAM-\(i)", nucHash: NUCHash(hex: v.nuc_hash)!, tableIDs: [v.table_id] + others))
        }
        for v in Vectors.shared.tokens {
            #expect(registry.validate(try v.request.camera_token.cameraToken(tableCount: 2500)) == .pass)
        }
    }

    @Test func everyTamperedVectorFails() throws {
        let registry = Registry()
        registry.installKeyTables(KeyTables(masterKeys: Vectors.masterKeys()))
        registry.installNUCDigestKey(testNUCDigestKey)
        let v0 = Vectors.shared.tokens[0]
        try registry.insert(RegisteredDevice(serial: "CAM-0", nucHash: NUCHash(hex: v0.nuc_hash)!, tableIDs: [v0.table_id, 1, 2]))
        for t in Vectors.shared.tampered_from_tokens_0 {
            let outcome = registry.validate(try t.request.camera_token.cameraToken(tableCount: 2500))
            #expect(outcome == .fail(.authenticationFailed), "\(t.why)")
        }
    }

    @Test func swiftCryptoSealedTokenValidatesThroughFastPath() throws {
        // A token made the way cameras make it (swift-crypto AES-GCM), checked by the OpenSSL path.
        let masters = Vectors.masterKeys(tableCount: 10)
        let registry = Registry()
        registry.installKeyTables(KeyTables(masterKeys: masters))
        registry.installNUCDigestKey(testNUCDigestKey)
        let nuc = NUCHash(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!
        try registry.insert(RegisteredDevice(serial: "CAM", nucHash: nuc, tableIDs: [7, 8, 9]))
        let token = TestCamera.token(nuc: nuc, master: masters[8], table: 8, keyIndex: 777)
        #expect(registry.validate(token) == .pass)
    }
}

/// Makes tokens the way a camera does, with swift-crypto.
enum TestCamera {
    static func token(nuc: NUCHash, master: Bytes32, table: Int, keyIndex: Int) -> CameraToken {
        let key = KeyDerivation.derivedKey(masterKey: master, keyIndex: keyIndex)
        let box = try! AES.GCM.seal(nuc.bytes, using: key)
        return CameraToken(ciphertext: Bytes32(box.ciphertext)!, authTag: Bytes16(box.tag)!,
                           nonce: Bytes12(Array(box.nonce))!, tableID: table, keyIndex: keyIndex)
    }
}
