import Foundation
import Testing
@testable import Core

/// The legacy token (docs/ARCHITECTURE.md §1.3): three (table, key index) candidates, at most three opens.
@Suite struct LegacyValidationTests {
    let masters = Vectors.masterKeys(tableCount: 20)
    let nuc = NUCHash(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!

    func registry(revoked: Bool = false) throws -> Registry {
        let r = Registry()
        r.installKeyTables(KeyTables(masterKeys: masters))
        r.installNUCDigestKey(testNUCDigestKey)
        try r.insert(RegisteredDevice(serial: "CAM-1", nucHash: nuc, tableIDs: [3, 4, 5], revoked: revoked))
        return r
    }

    /// camera-pi's request: the real (table, index) at `position`, the other two of its tables with random indices,
    /// `ciphertext` the hex of the UTF-8 bytes of base64(ciphertext || nonce || tag) (or of the raw bytes).
    static func request(nuc: NUCHash, master: Bytes32, tables: [Int], position: Int, keyIndex: Int = 321,
                        base64: Bool = true) -> LegacyValidationRequest {
        let token = TestCamera.token(nuc: nuc, master: master, table: tables[position], keyIndex: keyIndex)
        let packed = token.ciphertext.bytes + token.nonce.bytes + token.authTag.bytes
        let text = base64 ? Hex.encode(Array(Data(packed).base64EncodedString().utf8)) : Hex.encode(packed)
        var indices = (0..<3).map { _ in Int.random(in: 0..<1000) }
        indices[position] = keyIndex
        return LegacyValidationRequest(ciphertext: text, table_references: tables, key_indices: indices)
    }

    @Test func cameraPiTokensPassWithTheRealKeyAtEveryPositionInBothEncodings() throws {
        let r = try registry()
        for base64 in [true, false] {
            for position in 0..<3 {
                let body = Self.request(nuc: nuc, master: masters[3 + position], tables: [3, 4, 5], position: position, base64: base64)
                #expect(body.ciphertext.count == (base64 ? 160 : 120))
                #expect(r.validate(try body.legacyToken(tableCount: 20)) == .pass)
            }
        }
    }

    @Test func legacyTokensFailLikeStructuredOnes() throws {
        let r = try registry()
        // Tampered: one flipped byte of the packed bytes.
        var body = Self.request(nuc: nuc, master: masters[4], tables: [3, 4, 5], position: 1, base64: false)
        var raw = Hex.decode(body.ciphertext)!
        raw[50] ^= 1
        body.ciphertext = Hex.encode(raw)
        #expect(r.validate(try body.legacyToken(tableCount: 20)) == .fail(.authenticationFailed))
        // Unknown device.
        let other = NUCHash(bytes: [UInt8](repeating: 7, count: 32))!
        body = Self.request(nuc: other, master: masters[3], tables: [3, 4, 5], position: 0)
        #expect(r.validate(try body.legacyToken(tableCount: 20)) == .fail(.unknownDevice))
        // Opens, but under a table the device does not hold.
        body = Self.request(nuc: nuc, master: masters[9], tables: [3, 9, 5], position: 1)
        #expect(r.validate(try body.legacyToken(tableCount: 20)) == .fail(.tableNotAssigned))
        // Sealed under table 4 but listed under another table id with 4's index: no candidate opens.
        body = Self.request(nuc: nuc, master: masters[4], tables: [3, 6, 5], position: 1)
        #expect(r.validate(try body.legacyToken(tableCount: 20)) == .fail(.authenticationFailed))
        // Revoked device.
        let revoked = try registry(revoked: true)
        body = Self.request(nuc: nuc, master: masters[5], tables: [3, 4, 5], position: 2)
        #expect(revoked.validate(try body.legacyToken(tableCount: 20)) == .fail(.revoked))
        // Retired table.
        r.setRetired(table: 5, true)
        #expect(r.validate(try body.legacyToken(tableCount: 20)) == .fail(.tableRetired))
    }

    @Test func aLegacyPassCountsOnceLikeTheStructuredValidationOfThePairThatOpened() throws {
        let r = try registry()
        let body = Self.request(nuc: nuc, master: masters[5], tables: [3, 4, 5], position: 2)
        let legacy = try body.legacyToken(tableCount: 20)
        #expect(r.validate(legacy) == .pass)
        #expect(r.validate(legacy) == .pass)
        // The same image as a structured token: the same nonce, so a replay of it.
        #expect(r.validate(legacy.candidates[2]) == .pass)
        #expect(r.drainValidationCounts().map(\.count) == [1])
    }

    @Test func malformedLegacyBodiesNameTheField() throws {
        let good = Self.request(nuc: nuc, master: masters[3], tables: [3, 4, 5], position: 0)
        func field(_ change: (inout LegacyValidationRequest) -> Void) -> String? {
            var b = good
            change(&b)
            do { _ = try b.legacyToken(tableCount: 2500); return nil } catch { return error.field }
        }
        #expect(field { _ in } == nil)
        #expect(field { $0.ciphertext = String($0.ciphertext.dropLast(2)) } == "ciphertext")
        #expect(field { $0.ciphertext = String(repeating: "zz", count: 80) } == "ciphertext")
        #expect(field { $0.ciphertext = String(repeating: "ab", count: 60) + "00" } == "ciphertext")
        // 160 hex digits that are not base64 text, and base64 text (80 characters) of 58 bytes.
        #expect(field { $0.ciphertext = String(repeating: "00", count: 80) } == "ciphertext")
        #expect(field { $0.ciphertext = Hex.encode(Array(Data(count: 58).base64EncodedString().utf8)) } == "ciphertext")
        #expect(field { $0.table_references = [3, 4] } == "table_references")
        #expect(field { $0.table_references = [3, 4, 5, 6] } == "table_references")
        #expect(field { $0.key_indices = [] } == "key_indices")
        #expect(field { $0.table_references[1] = 2500 } == "table_references[1]")
        #expect(field { $0.table_references[0] = -1 } == "table_references[0]")
        #expect(field { $0.key_indices[2] = -1 } == "key_indices[2]")
        #expect(field { $0.key_indices[0] = 1000 } == "key_indices[0]")
    }

    @Test func theDescriptionNeverPrintsTokenBytes() throws {
        let body = Self.request(nuc: nuc, master: masters[3], tables: [3, 4, 5], position: 0, base64: false)
        let token = try body.legacyToken(tableCount: 20)
        let raw = Hex.decode(body.ciphertext)!
        #expect(!"\(token)".contains(Hex.encode(raw[0..<4])))
        #expect("\(token)".contains("table: 3"))
    }
}
