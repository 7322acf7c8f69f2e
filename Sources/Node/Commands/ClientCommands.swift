import ArgumentParser
import Foundation
import NIOPosix
import Replication

/// Where and as whom client commands talk to a running node.
struct ClientOptions: ParsableArguments {
    @Option(help: "Node public URL.") var url: String = ProcessInfo.processInfo.environment["SMA_URL"] ?? "http://127.0.0.1:8081"
    @Option(name: .customLong("api-key"), help: "API key (default: $SMA_API_KEY).") var apiKey: String = ProcessInfo.processInfo.environment["SMA_API_KEY"] ?? ""

    /// Sends one request and prints the JSON answer; exits non-zero on a non-2xx status.
    func call(_ method: String, _ path: String, body: [String: Any?]? = nil) async throws {
        guard !apiKey.isEmpty else { throw ValidationError("an API key is required: --api-key KEY or SMA_API_KEY") }
        let client = CurlHTTPClient(tls: nil, threadPool: NIOThreadPool.singleton)
        defer { client.shutdown() }
        var bytes: [UInt8]?
        if let body {
            bytes = Array(try JSONSerialization.data(withJSONObject: body.compactMapValues { $0 }, options: [.sortedKeys]))
        }
        let response = try await client.send(method: method, url: url + path,
                                             headers: [("Authorization", "Bearer \(apiKey)"), ("Content-Type", "application/json")],
                                             body: bytes)
        let text = String(decoding: response.body, as: UTF8.self)
        if let obj = try? JSONSerialization.jsonObject(with: Data(response.body)),
           let pretty = try? JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) {
            print(String(decoding: pretty, as: UTF8.self))
        } else {
            print(text)
        }
        if let seq = response.header("X-SMA-Seq") { FileHandle.standardError.write(Data("X-SMA-Seq: \(seq)\n".utf8)) }
        guard (200..<300).contains(response.status) else {
            FileHandle.standardError.write(Data("sma-node: HTTP \(response.status)\n".utf8))
            throw ExitCode.failure
        }
    }
}

func pathComponent(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? s
}

struct ProvisionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "provision", abstract: "Provision a device on a running node; prints its provisioning file.")
    @OptionGroup var client: ClientOptions
    @Option(help: "Device serial.") var serial: String
    @Option(help: "Device family.") var family: String
    @Option(name: .customLong("nuc-hash"), help: "NUC hash (64 hex digits); simulated if absent.") var nucHash: String?
    @Option(name: .customLong("public-key-file"), help: "PEM P-256 public key; the SMA generates a key pair if absent.") var publicKeyFile: String?

    func run() async throws {
        var pem: String?
        if let f = publicKeyFile {
            guard let data = FileManager.default.contents(atPath: f) else { throw ValidationError("cannot read \(f)") }
            pem = String(decoding: data, as: UTF8.self)
        }
        try await client.call("POST", "/api/v1/devices/provision",
                              body: ["device_serial": serial, "device_family": family, "nuc_hash": nucHash, "device_public_key": pem])
    }
}

struct RevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a device (admin).")
    @OptionGroup var client: ClientOptions
    @Option(help: "Device serial.") var serial: String
    @Option(help: "Why (kept in the log).") var reason: String = "unspecified"
    func run() async throws {
        try await client.call("POST", "/api/v1/devices/\(pathComponent(serial))/revoke", body: ["reason": reason])
    }
}

struct ReinstateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reinstate", abstract: "Reinstate a revoked device (admin).")
    @OptionGroup var client: ClientOptions
    @Option(help: "Device serial.") var serial: String
    func run() async throws {
        try await client.call("POST", "/api/v1/devices/\(pathComponent(serial))/reinstate")
    }
}

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "device", abstract: "Look up a device (no secrets).")
    @OptionGroup var client: ClientOptions
    @Option(help: "Device serial.") var serial: String
    func run() async throws {
        try await client.call("GET", "/api/v1/devices/\(pathComponent(serial))")
    }
}
