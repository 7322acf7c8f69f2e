import Foundation
import Testing
@testable import Core

/// `ValidationRequest(fastJSON:)` accepts only bodies that `JSONDecoder` decodes to the same value, and leaves everything
/// else (returns nil) to `JSONDecoder`.
@Suite struct FastValidationJSONTests {
    static let ct = String(repeating: "ab", count: 32), tag = String(repeating: "CD", count: 16), nonce = String(repeating: "01", count: 12)
    static let plain = #"{"camera_token":{"auth_tag":"\#(tag)","ciphertext":"\#(ct)","key_index":42,"nonce":"\#(nonce)","table_id":2499},"manufacturer_authority_id":"SIMULATED_MFG"}"#

    func fast(_ s: String) -> ValidationRequest? {
        Array(s.utf8).withUnsafeBytes { ValidationRequest(fastJSON: $0) }
    }

    func slow(_ s: String) -> ValidationRequest? {
        try? JSONDecoder().decode(ValidationRequest.self, from: Data(s.utf8))
    }

    func same(_ a: ValidationRequest, _ b: ValidationRequest) -> Bool {
        a.camera_token.ciphertext == b.camera_token.ciphertext && a.camera_token.auth_tag == b.camera_token.auth_tag
            && a.camera_token.nonce == b.camera_token.nonce && a.camera_token.table_id == b.camera_token.table_id
            && a.camera_token.key_index == b.camera_token.key_index && a.manufacturer_authority_id == b.manufacturer_authority_id
    }

    @Test func plainBodiesDecodeAsJSONDecoderDoes() throws {
        let bodies = [
            Self.plain,
            #"{"camera_token":{"ciphertext":"\#(Self.ct)","auth_tag":"\#(Self.tag)","nonce":"\#(Self.nonce)","table_id":0,"key_index":0}}"#,
            #" {  "manufacturer_authority_id" : null ,"camera_token" :\#t{ "key_index":-5 ,"table_id":  -1, "nonce":"x","auth_tag":"","ciphertext":"zz" }  }"# + "\n\r",
            #"{"camera_token":{"ciphertext":"a","auth_tag":"b","nonce":"c","table_id":123456789012345678,"key_index":7}}"#,
            #"{"manufacturer_authority_id":"A b/c~","camera_token":{"ciphertext":"a","auth_tag":"b","nonce":"c","table_id":1,"key_index":2}}"#,
        ]
        for body in bodies {
            let f = try #require(fast(body), "\(body)")
            let s = try #require(slow(body), "\(body)")
            #expect(same(f, s), "\(body)")
        }
        let f = try #require(fast(Self.plain))
        #expect(f.camera_token.table_id == 2499 && f.camera_token.key_index == 42 && f.manufacturer_authority_id == "SIMULATED_MFG")
    }

    @Test func everythingElseIsLeftToJSONDecoder() {
        let token = #""ciphertext":"a","auth_tag":"b","nonce":"c","table_id":1,"key_index":2"#
        let others = [
            "", " ", "{}", "[]", "null", "{", "}", #"{"camera_token":null}"#, #"{"camera_token":{}}"#,
            #"{"camera_token":{\#(token)}"#, #"{"camera_token":{\#(token)}} x"#, #"{"camera_token":{\#(token)}}{}"#,
            #"{"camera_token":{\#(token)},}"#, #"{"camera_token":{\#(token),}}"#, #"{,"camera_token":{\#(token)}}"#,
            #"{"camera_token":{\#(token)},"camera_token":{\#(token)}}"#,
            #"{"camera_token":{\#(token),"nonce":"c"}}"#,
            #"{"camera_token":{\#(token),"extra":1}}"#, #"{"camera_token":{\#(token)},"extra":1}"#,
            #"{"camera_token":{\#(token)},"manufacturer_authority_id":1}"#,
            #"{"camera_token":{\#(token)},"manufacturer_authority_id":"a","manufacturer_authority_id":"b"}"#,
            #"{"camera_token":{"ciphertext":"a\"b","auth_tag":"b","nonce":"c","table_id":1,"key_index":2}}"#,
            #"{"camera_token":{"ciphertext":"\u0061","auth_tag":"b","nonce":"c","table_id":1,"key_index":2}}"#,
            "{\"camera_token\":{\"ciphertext\":\"é\",\"auth_tag\":\"b\",\"nonce\":\"c\",\"table_id\":1,\"key_index\":2}}",
            "{\"camera_token\":{\"ciphertext\":\"a\tb\",\"auth_tag\":\"b\",\"nonce\":\"c\",\"table_id\":1,\"key_index\":2}}",
            #"{"camera_token":{"ciphertext":"a","auth_tag":"b","nonce":"c","table_id":1.0,"key_index":2}}"#,
            #"{"camera_token":{"ciphertext":"a","auth_tag":"b","nonce":"c","table_id":1e2,"key_index":2}}"#,
            #"{"camera_token":{"ciphertext":"a","auth_tag":"b","nonce":"c","table_id":01,"key_index":2}}"#,
            #"{"camera_token":{"ciphertext":"a","auth_tag":"b","nonce":"c","table_id":-0,"key_index":2}}"#,
            #"{"camera_token":{"ciphertext":"a","auth_tag":"b","nonce":"c","table_id":-,"key_index":2}}"#,
            #"{"camera_token":{"ciphertext":"a","auth_tag":"b","nonce":"c","table_id":"1","key_index":2}}"#,
            #"{"camera_token":{"ciphertext":"a","auth_tag":"b","nonce":"c","table_id":1234567890123456789,"key_index":2}}"#,
            #"{"camera_token":{"ciphertext":1,"auth_tag":"b","nonce":"c","table_id":1,"key_index":2}}"#,
            #"{"camera_token":{"ciphertext":"a","auth_tag":"b","nonce":"c","table_id":1}}"#,
            #"{"ciphertext":"a","table_references":[1,2,3],"key_indices":[1,2,3]}"#,
            #"{"camera_token":{\#(token)},"manufacturer_authority_id":nul}"#,
            "\u{FEFF}" + Self.plain,
        ]
        for body in others {
            #expect(fast(body) == nil, "\(body)")
        }
    }

    /// Fuzz-style: random cuts, byte flips and insertions of the plain body. Whatever the fast path accepts, JSONDecoder
    /// accepts with the same value (the converse is not required: the rest goes to JSONDecoder).
    @Test func mutatedBodiesNeverDisagreeWithJSONDecoder() throws {
        var rng = SystemRandomNumberGenerator()
        let base = Array(Self.plain.utf8)
        let alphabet = Array(#"{}[]:,"\ 0123456789-+.eEnulltrufalsabcdef"#.utf8) + [0x09, 0x0A, 0x00, 0xC3, 0xFF]
        var accepted = 0
        for _ in 0..<20_000 {
            var b = base
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: if !b.isEmpty { b[Int.random(in: 0..<b.count, using: &rng)] = alphabet.randomElement(using: &rng)! }
                case 1: b.insert(alphabet.randomElement(using: &rng)!, at: Int.random(in: 0...b.count, using: &rng))
                case 2: if b.count > 1 { b.remove(at: Int.random(in: 0..<b.count, using: &rng)) }
                default: b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
                }
            }
            guard let f = b.withUnsafeBytes({ ValidationRequest(fastJSON: $0) }) else { continue }
            accepted += 1
            let s = try #require(try? JSONDecoder().decode(ValidationRequest.self, from: Data(b)), "\(String(decoding: b, as: UTF8.self))")
            #expect(same(f, s), "\(String(decoding: b, as: UTF8.self))")
        }
        #expect(accepted > 0)
    }
}
