import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOPosix
import SMATestSupport
import Testing
@testable import API
@testable import Node
@testable import NodeServices

/// What an abusive or careless client can make a node hold, and that its mistakes are 4xx, never 5xx or a hang.
@Suite struct ResourceLimitsTests {
    /// Runs a small Python client (the standard library's urllib and socket, as real clients use them).
    static func python(_ script: String, _ args: [String]) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive {
            try run("/usr/bin/env", ["python3", "-c", script] + args).output
        }
    }

    /// urllib writes the whole body before it reads the answer.
    static let urllibPost = """
        import sys, time, urllib.request, urllib.error
        port, size = int(sys.argv[1]), int(sys.argv[2])
        body = b'{"camera_token":"' + b'a' * size + b'"}'
        req = urllib.request.Request(f"http://127.0.0.1:{port}/validate", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        t = time.monotonic()
        try:
            r = urllib.request.urlopen(req, timeout=20)
            print("status", r.status)
        except urllib.error.HTTPError as e:
            print("status", e.code)
        except Exception as e:
            print("error", type(e).__name__)
        print("seconds %.2f" % (time.monotonic() - t))
        """

    static func seconds(_ output: String) -> Double {
        Double(output.split(separator: "\n").first { $0.hasPrefix("seconds ") }?.dropFirst(8) ?? "") ?? .infinity
    }

    @Test func oversizedBodyFromAClientThatWritesBeforeReadingIsAnswered413AtOnce() async throws {
        try await TestNode.with(tables: 10, anonymous: true) { node in
            let app = Application(router: node.runtime.api.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let out = try await Self.python(Self.urllibPost, [String(port), String(5 << 20)])
                #expect(out.contains("status 413"), "\(out)")
                #expect(Self.seconds(out) < 5, "\(out)")
                // Far beyond the drain bound: cut short, but still no hang.
                let far = try await Self.python(Self.urllibPost, [String(port), String(40 << 20)])
                #expect(far.contains("status 413") || far.contains("error"), "\(far)")
                #expect(Self.seconds(far) < 5, "\(far)")
            }
        }
    }

    /// A refused caller (no key here) gets its 401 even when it sends a large body it writes before reading.
    @Test func largeBodyOfARefusedCallerIsAnsweredAtOnce() async throws {
        try await TestNode.with(tables: 10, anonymous: false) { node in
            let app = Application(router: node.runtime.api.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let port = try #require(client.port)
                for size in [3 << 20, 10 << 20, 40 << 20] {
                    let out = try await Self.python(Self.urllibPost, [String(port), String(size)])
                    #expect(out.contains("status 401") || (size > 16 << 20 && out.contains("error")), "\(size) bytes: \(out)")
                    #expect(Self.seconds(out) < 5, "\(size) bytes: \(out)")
                }
            }
        }
    }

    @Test func truncatedBodyIsAClientErrorNotAServerError() async throws {
        try await TestNode.with(tables: 10, anonymous: true) { node in
            let app = Application(router: node.runtime.api.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let script = """
                    import socket, sys
                    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
                    s.sendall(b"POST /validate HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\nContent-Length: 1000\\r\\n\\r\\n{\\"camera_token\\": {")
                    s.shutdown(socket.SHUT_WR)
                    data = b""
                    try:
                        while True:
                            chunk = s.recv(4096)
                            if not chunk: break
                            data += chunk
                    except Exception as e:
                        print("error", type(e).__name__)
                    print(data.split(b"\\r\\n")[0].decode() if data else "closed without an answer")
                    """
                let out = try await Self.python(script, [String(port)])
                #expect(!out.contains(" 500") && !out.contains("error timeout"), "\(out)")
            }
            let exposition = String(decoding: node.runtime.metrics.exposition(), as: UTF8.self)
            #expect(exposition.contains("sma_http_server_errors_total 0"), "a truncated body was counted as a server error")
        }
    }

    @Test func batchOverTheItemLimitIsRefusedWhileDecoding() async throws {
        try await TestNode.with(tables: 10, anonymous: true, configure: { $0.maxBatchItems = 5 }) { node in
            try await node.withClient { client in
                let token = #"{"ciphertext":"00","auth_tag":"00","nonce":"00","table_id":0,"key_index":0}"#
                let body = #"{"tokens":["# + Array(repeating: token, count: 6).joined(separator: ",") + "]}"
                try await client.execute(uri: "/v1/validate/batch", method: .post, headers: [.contentType: "application/json"],
                                         body: ByteBuffer(string: body)) { r in
                    #expect(r.status == .unprocessableContent)
                    #expect(String(buffer: r.body).contains("at most 5 items"))
                }
            }
        }
    }

    @Test func repeatedBadKeysFromOneAddressAreSlowedDown() async throws {
        try await TestNode.with(tables: 10, configure: { $0.authFailuresPerSecond = 2 }) { node in
            try await node.withClient { client in
                var statuses: [Int] = []
                for i in 0..<8 {
                    try await client.execute(uri: "/stats", method: .get, headers: [.authorization: "Bearer sma_wrong\(i)"]) { r in
                        statuses.append(r.status.code)
                    }
                }
                #expect(statuses.prefix(4).allSatisfy { $0 == 401 }, "\(statuses)")
                #expect(statuses.last == 429, "\(statuses)")
                // A valid key from the same address is not locked out.
                try await client.execute(uri: "/stats", method: .get, headers: node.headers(.admin)) { r in
                    #expect(r.status == .ok)
                }
            }
        }
    }
}
