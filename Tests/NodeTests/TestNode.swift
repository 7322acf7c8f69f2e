import SMATestSupport
import Core
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import SMAPostgres
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

/// A real node on its own throwaway PostgreSQL database: initialized, leader, with one API key per role.
struct TestNode: Sendable {
    let database: TestDatabase
    let config: NodeConfiguration
    let runtime: NodeRuntime
    let keys: [Role: String]
    let kekPath: String

    static func make(tables: Int = 2500, anonymous: Bool = false, logger: Logger = testLogger,
                     configure: (inout NodeConfiguration) -> Void = { _ in }) async throws -> TestNode {
        let db: TestDatabase = try await TestDatabase.create()
        let kekPath = FileManager.default.temporaryDirectory.appendingPathComponent("sma-kek-\(db.name)").path
        try KeyEncryptionKey.generate().fileContents.write(toFile: kekPath, atomically: true, encoding: .utf8)
        var config = NodeConfiguration()
        config.nodeID = "test-\(db.name.suffix(6))"
        config.databaseURL = db.conninfo
        config.kekFile = kekPath
        config.anonymousValidation = anonymous
        config.databasePoolSize = 4
        config.leaseTTLSeconds = 60
        config.minSeqWaitSeconds = 0.3
        configure(&config)
        let kek = try NodeRuntime.readKEK(path: kekPath)
        let keys = try await db.withConnection(logger: logger) { conn in
            _ = try NodeBootstrap.initialize(conn, kek: kek, tables: tables, manufacturer: "SIMULATED_MFG", force: false, logger: logger) { _ in }
            var keys: [Role: String] = [:]
            for role in Role.allCases {
                keys[role] = try NodeBootstrap.createAPIKey(conn, kek: kek, role: role, name: "test-\(role.rawValue)").key
            }
            return keys
        }
        return try await TestNode(database: db, config: config, kekPath: kekPath, keys: keys, logger: logger)
    }

    /// Runs `body` with a new node and always stops it (database dropped) before returning.
    static func with<T>(tables: Int = 2500, anonymous: Bool = false, logger: Logger = testLogger,
                        configure: (inout NodeConfiguration) -> Void = { _ in },
                        _ body: (TestNode) async throws -> T) async throws -> T {
        let node = try await make(tables: tables, anonymous: anonymous, logger: logger, configure: configure)
        do {
            let result = try await body(node)
            await node.stop()
            return result
        } catch {
            await node.stop()
            throw error
        }
    }

    private init(database: TestDatabase, config: NodeConfiguration, kekPath: String, keys: [Role: String], logger: Logger) async throws {
        self.database = database
        self.config = config
        self.kekPath = kekPath
        self.keys = keys
        self.runtime = try await NodeRuntime.start(config: config, logger: logger)
        runtime.state.markReady()
        await LeaseKeeper(store: runtime.store, leadership: runtime.leadership, metrics: runtime.metrics, nodeID: config.nodeID,
                          ttlSeconds: config.leaseTTLSeconds, logger: logger).tick()
    }

    /// A second runtime on the same database (a restart).
    func restarted(logger: Logger = testLogger) async throws -> TestNode {
        await runtime.shutdown()
        return try await TestNode(database: database, config: config, kekPath: kekPath, keys: keys, logger: logger)
    }

    func stop() async {
        await runtime.shutdown()
        try? FileManager.default.removeItem(atPath: kekPath)
        await database.drop()
    }

    /// Runs `body` against the node's router.
    func withClient<T: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        let app = Application(router: runtime.api.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: runtime.logger)
        return try await app.test(.router, body)
    }

    func headers(_ role: Role?) -> HTTPFields {
        var h: HTTPFields = [.contentType: "application/json"]
        if let role { h[.authorization] = "Bearer \(keys[role]!)" }
        return h
    }
}

/// JSON helpers for tests.
func jsonBody(_ object: Any) -> ByteBuffer {
    ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object))
}

func jsonObject(_ buffer: ByteBuffer) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] ?? [:]
}

/// Makes a camera token, as the camera does (swift-crypto).
func cameraToken(nucHex: String, masterHex: String, table: Int, keyIndex: Int) -> ValidationRequest.Token {
    let key = KeyDerivation.derivedKey(masterKey: Bytes32(hex: masterHex)!, keyIndex: keyIndex)
    let box = try! AES.GCM.seal(Hex.decode(nucHex)!, using: key)
    return .init(ciphertext: Hex.encode(box.ciphertext), auth_tag: Hex.encode(box.tag), nonce: Hex.encode(Array(box.nonce)),
                 table_id: table, key_index: keyIndex)
}

func validationBody(_ token: ValidationRequest.Token) -> ByteBuffer {
    ByteBuffer(bytes: try! JSONEncoder().encode(ValidationRequest(camera_token: token, manufacturer_authority_id: "SIMULATED_MFG")))
}

func validationBody(_ token: [String: Any]) -> ByteBuffer {
    jsonBody(["camera_token": token, "manufacturer_authority_id": "SIMULATED_MFG"])
}

func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) -> T? {
    try? JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
}

/// `valid` with 1-4 random byte changes, removals or insertions (the fuzz tests' mutation).
func randomlyMutated(_ valid: [UInt8], using rng: inout some RandomNumberGenerator) -> [UInt8] {
    var bytes = valid
    for _ in 0..<Int.random(in: 1...4, using: &rng) {
        let i = Int.random(in: 0..<bytes.count, using: &rng)
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
        case 1: bytes.remove(at: i)
        default: bytes.insert(UInt8.random(in: 32...126, using: &rng), at: i)
        }
    }
    return bytes
}
