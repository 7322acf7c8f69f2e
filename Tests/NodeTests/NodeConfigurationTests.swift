import Foundation
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage
import Testing

@Suite struct NodeConfigurationTests {
    @Test("peer connections leave from peer_host when it is a specific address, unless peer_source_address says otherwise")
    func peerSourceAddressDefaultsToPeerHost() {
        var config = NodeConfiguration()
        config.peerHost = "127.2.1.1"
        #expect(config.effectivePeerSourceAddress == "127.2.1.1")
        config.peerHost = "0.0.0.0"
        #expect(config.effectivePeerSourceAddress == nil)
        config.peerHost = "::"
        #expect(config.effectivePeerSourceAddress == nil)
        config.peerHost = "node-1.internal"
        #expect(config.effectivePeerSourceAddress == nil)
        config.peerSourceAddress = "10.0.0.5"
        #expect(config.effectivePeerSourceAddress == "10.0.0.5")
        config.peerHost = "127.2.1.1"
        config.peerSourceAddress = ""
        #expect(config.effectivePeerSourceAddress == nil)
    }

    @Test("a peer_source_address that is no IP address stops start-up naming the key")
    func peerSourceAddressMustBeAnAddress() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sma-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("config.json").path
        let base = #"{"database_url": "postgresql://x@127.0.0.1/sma", "kek_file": "/k", "peer_host": "127.2.1.1""#
        try Data((base + #", "peer_source_address": "::1"}"#).utf8).write(to: URL(fileURLWithPath: path))
        #expect(try NodeConfiguration.load(path: path, environment: [:]).effectivePeerSourceAddress == "::1")
        try Data((base + #", "peer_source_address": "my-host"}"#).utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: ConfigurationError.self) { try NodeConfiguration.load(path: path, environment: [:]) }
        #expect(error?.key == "peer_source_address")
        let overridden = try NodeConfiguration.load(path: path, environment: ["SMA_PEER_SOURCE_ADDRESS": "127.2.1.9"])
        #expect(overridden.effectivePeerSourceAddress == "127.2.1.9")
    }

    @Test("staleness_mode and max_staleness_seconds load from the file and the environment; a mode without a limit stops start-up naming the key")
    func stalenessSettingsAreValidated() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sma-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("config.json").path
        let base = #"{"database_url": "postgresql://x@127.0.0.1/sma", "kek_file": "/k""#
        try Data((base + "}").utf8).write(to: URL(fileURLWithPath: path))
        let defaults = try NodeConfiguration.load(path: path, environment: [:])
        #expect(defaults.stalenessMode == .off && defaults.maxStalenessSeconds == nil && defaults.stalenessLimit == nil)
        try Data((base + #", "max_staleness_seconds": 30, "staleness_mode": "fail"}"#).utf8).write(to: URL(fileURLWithPath: path))
        let fail = try NodeConfiguration.load(path: path, environment: [:])
        #expect(fail.stalenessMode == .fail && fail.stalenessLimit == .seconds(30))
        let warn = try NodeConfiguration.load(path: path, environment: ["SMA_STALENESS_MODE": "warn"])
        #expect(warn.stalenessMode == .warn)
        try Data((base + #", "staleness_mode": "fail"}"#).utf8).write(to: URL(fileURLWithPath: path))
        let missing = #expect(throws: ConfigurationError.self) { try NodeConfiguration.load(path: path, environment: [:]) }
        #expect(missing?.key == "staleness_mode")
        try Data((base + #", "max_staleness_seconds": 0, "staleness_mode": "warn"}"#).utf8).write(to: URL(fileURLWithPath: path))
        let zero = #expect(throws: ConfigurationError.self) { try NodeConfiguration.load(path: path, environment: [:]) }
        #expect(zero?.key == "max_staleness_seconds")
        try Data((base + #", "max_staleness_seconds": 5, "staleness_mode": "sometimes"}"#).utf8).write(to: URL(fileURLWithPath: path))
        let bad = #expect(throws: ConfigurationError.self) { try NodeConfiguration.load(path: path, environment: [:]) }
        #expect(bad?.key == "staleness_mode")
    }
}
