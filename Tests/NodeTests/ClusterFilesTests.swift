import Core
import Foundation
import Testing
@testable import Node
@testable import NodeServices

/// `sma-node cluster config` / `cluster state`: the files the cluster/ scripts run on.
@Suite struct ClusterFilesTests {
    static func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sma-cluster-files-\(UInt64.random(in: 0 ... .max))").path
        try FileManager.default.createDirectory(atPath: dir + "/n1", withIntermediateDirectories: true)
        return dir
    }

    @Test func compatFlagWritesTheProfileAndAbsenceKeepsIt() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let row = try ClusterFiles.NodeRow(line: "n1\tregion-1\tleader-eligible\t8081\t9081\tpostgresql://u:secret@127.0.0.1:5/db\t/tls/n1\t127.0.1.1",
                                           number: 1)
        let path = dir + "/n1/config.json"
        try ClusterFiles.writeNodeConfig(row: row, nodesDir: dir, kekFile: "/k/kek", caFile: "/k/ca.pem", logKey: "", peers: [], compat: "birthmark")
        #expect(try NodeConfiguration.load(path: path, environment: [:]).compatibility == .birthmark)
        try ClusterFiles.writeNodeConfig(row: row, nodesDir: dir, kekFile: "/k/kek", caFile: "/k/ca.pem", logKey: "", peers: [])
        #expect(try NodeConfiguration.load(path: path, environment: [:]).compatibility == .birthmark)
        try ClusterFiles.writeNodeConfig(row: row, nodesDir: dir, kekFile: "/k/kek", caFile: "/k/ca.pem", logKey: "", peers: [], compat: "none")
        #expect(try NodeConfiguration.load(path: path, environment: [:]).compatibility == CompatibilityProfile.none)
    }

    @Test func generatedConfigLoadsAsANodeConfigurationAndIsPrivate() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let row = try ClusterFiles.NodeRow(line: "n1\tregion-1\tleader-eligible\t8081\t9081\tpostgresql://u:secret@127.0.0.1:5/db\t/tls/n1\t127.0.1.1",
                                           number: 1)
        try ClusterFiles.writeNodeConfig(row: row, nodesDir: dir, kekFile: "/k/kek", caFile: "/k/ca.pem", logKey: "",
                                         peers: ["https://127.0.1.1:9081", "https://127.0.2.1:9082"])
        let path = dir + "/n1/config.json"
        let config = try NodeConfiguration.load(path: path, environment: [:])
        #expect(config.nodeID == "n1" && config.region == "region-1" && config.role == .leaderEligible)
        #expect(config.publicPort == 8081 && config.peerPort == 9081 && config.peerHost == "127.0.1.1")
        #expect(config.seeds == ["https://127.0.2.1:9082"], "a node is not its own seed")
        #expect(config.peerCertFile == "/tls/n1/node.pem" && config.peerCAFile == "/k/ca.pem")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600, "configs hold database passwords")

        // An operator's edit survives a re-run.
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"log_level\" : \"info\"", with: "\"log_level\" : \"debug\"")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try ClusterFiles.writeNodeConfig(row: row, nodesDir: dir, kekFile: "/k/kek", caFile: "/k/ca.pem", logKey: String(repeating: "ab", count: 32),
                                         peers: ["https://127.0.1.1:9081"])
        let updated = try NodeConfiguration.load(path: path, environment: [:])
        #expect(updated.logLevel == "debug")
        #expect(updated.logVerificationKey == String(repeating: "ab", count: 32))

        // A config from before nodes had their own PostgreSQL role is moved off the superuser.
        text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "postgresql://u:secret@", with: "postgresql://postgres:super@")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try ClusterFiles.writeNodeConfig(row: row, nodesDir: dir, kekFile: "/k/kek", caFile: "/k/ca.pem", logKey: "", peers: [])
        #expect(try NodeConfiguration.load(path: path, environment: [:]).databaseURL == "postgresql://u:secret@127.0.0.1:5/db")
    }

    @Test func publicTLSConfigServesHTTPSAndTheStateNamesTheCA() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let row = try ClusterFiles.NodeRow(line: "n1\tregion-1\tleader-eligible\t8081\t9081\tpostgresql://u:s@127.0.0.1:5/db\t/tls/n1\t127.0.1.1",
                                           number: 1)
        try ClusterFiles.writeNodeConfig(row: row, nodesDir: dir, kekFile: "/k/kek", caFile: "/k/ca.pem", logKey: "", peers: [],
                                         publicTLS: .init(clientCAFile: "/k/clients-ca.pem"))
        let config = try NodeConfiguration.load(path: dir + "/n1/config.json", environment: [:])
        #expect(config.publicTLSCertFile == "/tls/n1/public.pem" && config.publicTLSKeyFile == "/tls/n1/public.key")
        #expect(config.effectivePublicClientAuth == .optional && config.publicTLSClientCAFile == "/k/clients-ca.pem")
        #expect(config.publicURL == "https://127.0.0.1:8081")
        try #"{"admin": "a", "provisioner": "p", "validator": "v"}"#.write(toFile: dir + "/keys.json", atomically: true, encoding: .utf8)
        try ClusterFiles.writeState(path: dir + "/state.json", nodesDir: dir, apiKeysPath: dir + "/keys.json", nodes: ["n1=null"],
                                    publicCA: "/k/public-ca.pem", clientIdentity: "/k/client")
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/state.json"))) as? [String: Any]
        #expect((state?["nodes"] as? [[String: Any]])?.first?["public_url"] as? String == "https://127.0.0.1:8081")
        #expect(state?["public_ca_file"] as? String == "/k/public-ca.pem")
        #expect(state?["client_cert_file"] as? String == "/k/client/client.pem")
    }

    @Test func malformedInputIsRefusedInOneLineThatNamesIt() {
        #expect(throws: ClusterFiles.Failure.self) { try ClusterFiles.NodeRow(line: "n1\tregion-1", number: 3) }
        do {
            _ = try ClusterFiles.NodeRow(line: "n1\tr\tfollower\t99999\t9081\tdb\t/tls\t127.0.0.1", number: 2)
            Issue.record("an out-of-range port was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("line 2") && text.contains("public port"))
            #expect(!text.contains("\n"))
        }
    }

    @Test func stateFileListsNodesAndKeysAndTracksPIDs() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let row = try ClusterFiles.NodeRow(line: "n1\tregion-1\tfollower\t8081\t9081\tdb-url\t/tls\t127.0.0.1", number: 1)
        try ClusterFiles.writeNodeConfig(row: row, nodesDir: dir, kekFile: "k", caFile: "c", logKey: "", peers: [])
        try #"{"admin":"sma_a","provisioner":"sma_p","validator":"sma_v"}"#.write(toFile: dir + "/keys.json", atomically: true, encoding: .utf8)
        let state = dir + "/state.json"
        try ClusterFiles.writeState(path: state, nodesDir: dir, apiKeysPath: dir + "/keys.json", nodes: ["n1=null"])
        try ClusterFiles.setPID(path: state, nodeID: "n1", pid: "4242")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: state))) as! [String: Any]
        let nodes = json["nodes"] as! [[String: Any]]
        #expect(nodes.count == 1 && nodes[0]["pid"] as? Int == 4242 && nodes[0]["public_url"] as? String == "http://127.0.0.1:8081")
        #expect((json["api_keys"] as! [String: String])["validator"] == "sma_v")
        #expect(throws: ClusterFiles.Failure.self) { try ClusterFiles.setPID(path: state, nodeID: "nobody", pid: "1") }
    }
}
