import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

/// Server errors schemathesis found against a live node (cluster/check-openapi), kept fixed.
@Suite(.serialized) struct FuzzFindingsTests {
    @Test func nulInAQueryOrPathValueIsAClientErrorNotADatabaseError() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                // The key-table route's `after` was found by the stateful phase after issue 5 (table 1 exists).
                for uri in ["/api/v1/devices?after=a%00b", "/api/v1/devices?family=%00", "/api/v1/devices/CAM%00X",
                            "/api/v1/key-tables/1/devices?after=%C3%AEb%00%F2%9E%BB%BEQ"] {
                    try await client.execute(uri: uri, method: .get, headers: node.headers(.admin)) { r in
                        #expect(r.status == .unprocessableContent, "\(uri): \(r.status)")
                        #expect(String(buffer: r.body).contains("NUL"))
                    }
                }
                for action in ["revoke", "reinstate"] {
                    try await client.execute(uri: "/api/v1/devices/CAM%00X/\(action)", method: .post, headers: node.headers(.admin)) { r in
                        #expect(r.status == .unprocessableContent, "\(action): \(r.status)")
                    }
                }
            }
        }
    }

    @Test func serialInThePathIsPercentDecoded() async throws {
        try await TestNode.with(tables: 10) { node in
            try await node.withClient { client in
                _ = try await NodeAPITests.provision(node, client, serial: "CAM 0001/ä")
                try await client.execute(uri: "/api/v1/devices/CAM%200001%2F%C3%A4", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                    #expect(jsonObject(r.body)["device_serial"] as? String == "CAM 0001/ä")
                }
                try await client.execute(uri: "/api/v1/devices/CAM%200001%2F%C3%A4/revoke", method: .post, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                }
            }
        }
    }
}
