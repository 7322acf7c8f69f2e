import Foundation
@testable import Core

/// The committed copy of the conformance vectors (camera-token.json).
struct Vectors: Decodable {
    struct HKDFCase: Decodable {
        var master_key: String
        var key_index: Int
        var derived_key: String
    }
    struct TokenCase: Decodable {
        var master_key: String
        var table_id: Int
        var key_index: Int
        var nuc_hash: String
        var request: ValidationRequest
    }
    struct Tampered: Decodable {
        var why: String
        var request: ValidationRequest
    }
    var hkdf: [HKDFCase]
    var tokens: [TokenCase]
    var tampered_from_tokens_0: [Tampered]

    static let shared: Vectors = {
        let url = Bundle.module.url(forResource: "camera-token", withExtension: "json", subdirectory: "Resources")!
        return try! JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }()

    /// Master keys for `tableCount` tables: the vectors' keys at their table ids, random elsewhere.
    static func masterKeys(tableCount: Int = 2500) -> [Bytes32] {
        var keys = (0..<tableCount).map { _ in Bytes32((0..<32).map { _ in UInt8.random(in: 0...255) })! }
        for t in shared.tokens where t.table_id < tableCount { keys[t.table_id] = Bytes32(hex: t.master_key)! }
        return keys
    }
}
