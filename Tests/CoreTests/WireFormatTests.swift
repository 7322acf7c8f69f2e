import Foundation
import SMAErrors
import Testing
@testable import Core

@Suite struct WireFormatTests {
    let good = ValidationRequest.Token(ciphertext: String(repeating: "ab", count: 32), auth_tag: String(repeating: "CD", count: 16),
                                       nonce: String(repeating: "01", count: 12), table_id: 2499, key_index: 999)

    @Test func wellFormedTokenParses() throws {
        let t = try good.cameraToken(tableCount: 2500)
        #expect(t.tableID == 2499 && t.keyIndex == 999)
        #expect(t.authTag.bytes == [UInt8](repeating: 0xcd, count: 16))
    }

    @Test func eachMalformedFieldIsNamed() {
        var cases: [(ValidationRequest.Token, String)] = []
        var t = good; t.ciphertext = "ab"; cases.append((t, "camera_token.ciphertext"))
        t = good; t.ciphertext = String(repeating: "zz", count: 32); cases.append((t, "camera_token.ciphertext"))
        t = good; t.auth_tag = String(repeating: "a", count: 31); cases.append((t, "camera_token.auth_tag"))
        t = good; t.nonce = String(repeating: "a", count: 26); cases.append((t, "camera_token.nonce"))
        t = good; t.table_id = 2500; cases.append((t, "camera_token.table_id"))
        t = good; t.table_id = -1; cases.append((t, "camera_token.table_id"))
        t = good; t.key_index = 1000; cases.append((t, "camera_token.key_index"))
        t = good; t.key_index = -5; cases.append((t, "camera_token.key_index"))
        for (token, field) in cases {
            #expect(throws: InputError(field: field, "")) { try token.cameraToken(tableCount: 2500) }
        }
    }

    @Test func inputErrorNeverEchoesTheValue() {
        var t = good
        t.ciphertext = String(repeating: "ab", count: 31) + "q1"
        do { _ = try t.cameraToken(tableCount: 2500) } catch {
            #expect(!error.description.contains(t.ciphertext))
        }
    }

    @Test func randomHexStringsNeverCrashTheParser() {
        let alphabet = Array("0123456789abcdefABCDEFxyz -\u{00e9}\u{0000}")
        for _ in 0..<5000 {
            let s = String((0..<Int.random(in: 0...70)).map { _ in alphabet.randomElement()! })
            let decoded = Hex.decode(s)
            if let d = decoded { #expect(Hex.encode(d) == s.lowercased()) }
            _ = Bytes32(hex: s); _ = Bytes16(hex: s); _ = Bytes12(hex: s)
        }
    }
}

