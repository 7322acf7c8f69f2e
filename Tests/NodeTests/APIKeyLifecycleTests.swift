import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication

/// API keys can be listed, created with an expiry, revoked and rotated with a grace, through the API, replicated
/// and audited; a secret appears once, in the answer that creates it.
@Suite struct APIKeyLifecycleTests {
    static func bearer(_ key: String) -> HTTPFields { [.authorization: "Bearer \(key)", .contentType: "application/json"] }

    /// The status of `GET /stats` with `key` (any valid admin key answers 200).
    static func statsStatus(_ client: any TestClientProtocol, _ key: String) async throws -> Int {
        try await client.execute(uri: "/stats", method: .get, headers: bearer(key)) { $0.status.code }
    }

    static func object(_ body: ByteBuffer) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as! [String: Any]
    }

    @Test func createdKeyWorksIsListedWithoutItsSecretAndRevokedKeyIsRefused() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                let created = try await client.execute(uri: "/api/v1/api-keys", method: .post, headers: node.headers(.admin),
                                                       body: jsonBody(["name": "ops-2", "role": "admin"])) { r in
                    #expect(r.status == .created)
                    #expect(r.headers[APIServer.seqHeader] != nil)
                    return try Self.object(r.body)
                }
                let key = try #require(created["key"] as? String)
                let id = try #require(created["id"] as? Int)
                #expect(key.hasPrefix("sma_"))
                #expect(try await Self.statsStatus(client, key) == 200)
                try await client.execute(uri: "/api/v1/api-keys", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                    let text = String(buffer: r.body)
                    #expect(text.contains("ops-2") && !text.contains(key) && !text.contains("key_hash"))
                }
                try await client.execute(uri: "/api/v1/api-keys/\(id)/revoke", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                    #expect(String(buffer: r.body).contains(#""changed":true"#))
                }
                #expect(try await Self.statsStatus(client, key) == 401)
                try await client.execute(uri: "/api/v1/api-keys/\(id)/revoke", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .notFound)
                }
                // The audit trail names both actions, never the key.
                try await client.execute(uri: "/api/v1/audit?order=desc&limit=5", method: .get, headers: node.headers(.admin)) { r in
                    let text = String(buffer: r.body)
                    #expect(text.contains("api_key.create") && text.contains("api_key.revoke") && !text.contains(key))
                }
            }
            // A restart loads the revocation from the database.
            let restarted = try await node.restarted()
            #expect(restarted.runtime.state.apiKeys.count(role: .admin) == 1)
            await restarted.runtime.shutdown()
        }
    }

    @Test func rotatedKeyKeepsWorkingForItsGraceThenOnlyTheNewOneDoes() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                let created = try await client.execute(uri: "/api/v1/api-keys", method: .post, headers: node.headers(.admin),
                                                       body: jsonBody(["name": "agg", "role": "admin"])) { try Self.object($0.body) }
                let old = try #require(created["key"] as? String), oldID = try #require(created["id"] as? Int)
                let rotated = try await client.execute(uri: "/api/v1/api-keys/\(oldID)/rotate", method: .post, headers: node.headers(.admin),
                                                       body: jsonBody(["grace_seconds": 1])) { r in
                    #expect(r.status == .created)
                    return try Self.object(r.body)
                }
                let new = try #require(rotated["key"] as? String)
                #expect(rotated["replaces"] as? Int == oldID && rotated["name"] as? String == "agg" && new != old)
                #expect(try await Self.statsStatus(client, old) == 200, "the old key works during the grace")
                #expect(try await Self.statsStatus(client, new) == 200)
                try await Task.sleep(for: .milliseconds(1300))
                #expect(try await Self.statsStatus(client, old) == 401, "the old key is refused after the grace")
                #expect(try await Self.statsStatus(client, new) == 200)
            }
        }
    }

    @Test func keyWithAnExpiryIsRefusedAfterIt() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                let created = try await client.execute(uri: "/api/v1/api-keys", method: .post, headers: node.headers(.admin),
                                                       body: jsonBody(["name": "temp", "role": "admin", "expires_in_seconds": 1])) { try Self.object($0.body) }
                let key = try #require(created["key"] as? String)
                #expect(created["expires_at"] is String)
                #expect(try await Self.statsStatus(client, key) == 200)
                try await Task.sleep(for: .milliseconds(1300))
                #expect(try await Self.statsStatus(client, key) == 401)
                try await client.execute(uri: "/api/v1/api-keys", method: .post, headers: node.headers(.admin),
                                         body: jsonBody(["name": "x", "role": "admin", "expires_in_seconds": 0])) { r in
                    #expect(r.status == .unprocessableContent)
                }
                try await client.execute(uri: "/api/v1/api-keys", method: .post, headers: node.headers(.admin),
                                         body: jsonBody(["name": "x", "role": "root"])) { r in
                    #expect(r.status == .unprocessableContent)
                }
            }
        }
    }

    @Test func theLastAdminKeyCannotBeRevokedAndOtherRolesCannotManageKeys() async throws {
        try await TestNode.with(tables: 10) { node in
            let adminID = try #require(node.runtime.state.apiKeys.authenticate(node.keys[.admin]!)?.keyID)
            try await node.withClient { client in
                try await client.execute(uri: "/api/v1/api-keys/\(adminID)/revoke", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .conflict)
                }
                try await client.execute(uri: "/api/v1/api-keys", method: .get, headers: node.headers(.provisioner)) { r in
                    #expect(r.status == .forbidden)
                }
            }
        }
    }

    @Test func aKeyRevokedThroughAFollowerIsRefusedOnEveryNode() async throws {
        try await TestCluster.with(layout: [["a1"], ["b1"]]) { cluster in
            try await cluster.waitUntil("b1 knows the leader and caught up") {
                cluster.runtime("b1").api.forwarder?.view.leader?.id == "a1" && cluster.runtime("b1").state.isReady
            }
            let created = await cluster.call("POST", "\(cluster.nodes["b1"]!.publicURL)/api/v1/api-keys", role: .admin,
                                             body: Array(#"{"name":"aggregator-eu","role":"validator"}"#.utf8))
            #expect(created?.status == 201)
            let answer = try JSONSerialization.jsonObject(with: Data(created?.body ?? [])) as? [String: Any]
            let key = try #require(answer?["key"] as? String), id = try #require(answer?["id"] as? Int)
            try await cluster.waitUntil("every node knows the key") {
                ["a1", "b1"].allSatisfy { cluster.runtime($0).state.apiKeys.authenticate(key) != nil }
            }
            let revoked = await cluster.call("POST", "\(cluster.nodes["b1"]!.publicURL)/api/v1/api-keys/\(id)/revoke", role: .admin)
            #expect(revoked?.status == 200)
            try await cluster.waitUntil("every node refuses the key") {
                ["a1", "b1"].allSatisfy { cluster.runtime($0).state.apiKeys.authenticate(key) == nil }
            }
        }
    }
}
