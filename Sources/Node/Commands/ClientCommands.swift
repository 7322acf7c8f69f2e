import API
import ArgumentParser
import Core
import Foundation
import NIOPosix
import NodeServices
import Replication
import Storage

/// TLS for a node's public https URL trusting only the CA in `path` (no client certificate); nil for an empty path
/// (plain HTTP, or https verified against the system's CAs).
func publicTLS(_ path: String) throws -> HTTPClientTLS? {
    guard !path.isEmpty else { return nil }
    guard let pem = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read --cacert \(path)") }
    return HTTPClientTLS(certificateChainPEM: "", privateKeyPEM: "", trustRootsPEM: String(decoding: pem, as: UTF8.self))
}

/// Where and as whom client commands talk to a running node.
struct ClientOptions: ParsableArguments {
    @Option(help: "Node public URL.") var url: String = ProcessInfo.processInfo.environment["SMA_URL"] ?? "http://127.0.0.1:8081"
    @Option(name: .customLong("api-key"), help: "API key (default: $SMA_API_KEY).") var apiKey: String = ProcessInfo.processInfo.environment["SMA_API_KEY"] ?? ""
    @Option(help: "For an https URL: the CA (PEM) that issued the node's public certificate (default: $SMA_CACERT; none: the system's CAs).")
    var cacert: String = ProcessInfo.processInfo.environment["SMA_CACERT"] ?? ""

    /// Sends one request and returns the body of a 2xx answer; prints the answer and exits non-zero otherwise.
    func fetch(_ method: String, _ path: String) async throws -> [UInt8] {
        guard !apiKey.isEmpty else { throw ValidationError("an API key is required: --api-key KEY or SMA_API_KEY") }
        let client = CurlHTTPClient(tls: try publicTLS(cacert), threadPool: NIOThreadPool.singleton)
        defer { client.shutdown() }
        let response = try await client.send(method: method, url: url + path, headers: [("Authorization", "Bearer \(apiKey)")], body: nil)
        guard (200..<300).contains(response.status) else {
            FileHandle.standardError.write(Data("sma-node: \(method) \(path): HTTP \(response.status): \(String(decoding: response.body, as: UTF8.self))\n".utf8))
            throw ExitCode.failure
        }
        return Array(response.body)
    }

    /// Sends one request and prints the JSON answer; exits non-zero on a non-2xx status.
    func call(_ method: String, _ path: String, body: [String: Any?]? = nil) async throws {
        guard !apiKey.isEmpty else { throw ValidationError("an API key is required: --api-key KEY or SMA_API_KEY") }
        let client = CurlHTTPClient(tls: try publicTLS(cacert), threadPool: NIOThreadPool.singleton)
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

struct KeyTableCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "key-table", abstract: "Key-table compromise tooling (admin).",
                                                    subcommands: [List.self, Devices.self, Above.self, Retire.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every key table: state (active, retiring, retired), retire time, device count.")
        @OptionGroup var client: ClientOptions
        func run() async throws { try await client.call("GET", "/api/v1/key-tables") }
    }

    struct Devices: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The devices holding a key table, by serial (one page).")
        @OptionGroup var client: ClientOptions
        @Option(help: "Key table id.") var id: Int
        @Option(help: "Serial to start after (the previous page's next_after).") var after: String?
        @Option(help: "Page size, 1-1000.") var limit: Int = 100
        func run() async throws {
            var path = "/api/v1/key-tables/\(id)/devices?limit=\(limit)"
            if let after { path += "&after=" + (after.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? after) }
            try await client.call("GET", path)
        }
    }

    struct Above: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "above",
            abstract: "The devices holding any key table with id at or above a bound (e.g. 250: devices today's Birthmark aggregator cannot serve).",
            discussion: """
            Lists every table with id >= --bound that some device holds, and those devices' serials (all pages). Devices \
            provisioned before assign_tables_below was set may hold such tables: re-provision them or move the \
            aggregator off the birthmark profile. Exits 0; prints device_count 0 when there are none.
            """)
        @OptionGroup var client: ClientOptions
        @Option(help: "Lowest table id listed (default 250, the birthmark profile's assign_tables_below).") var bound: Int = 250
        func run() async throws {
            struct Tables: Decodable { struct T: Decodable { var id: Int; var device_count: Int }; var key_tables: [T] }
            struct Page: Decodable { struct D: Decodable { var device_serial: String }; var devices: [D]; var next_after: String? }
            let tables = try JSONDecoder().decode(Tables.self, from: Data(try await client.fetch("GET", "/api/v1/key-tables")))
            var listed: [[String: Any]] = []
            var serials = Set<String>()
            for t in tables.key_tables.sorted(by: { $0.id < $1.id }) where t.id >= bound && t.device_count > 0 {
                var devices: [String] = []
                var after: String?
                repeat {
                    var path = "/api/v1/key-tables/\(t.id)/devices?limit=1000"
                    if let after { path += "&after=" + (after.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? after) }
                    let page = try JSONDecoder().decode(Page.self, from: Data(try await client.fetch("GET", path)))
                    devices += page.devices.map(\.device_serial)
                    after = page.next_after
                } while after != nil
                serials.formUnion(devices)
                listed.append(["id": t.id, "devices": devices])
            }
            let out: [String: Any] = ["bound": bound, "device_count": serials.count, "key_tables": listed]
            let data = try JSONSerialization.data(withJSONObject: out, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retire a key table: never assigned again; its tokens FAIL after the grace period.")
        @OptionGroup var client: ClientOptions
        @Option(help: "Key table id.") var id: Int
        @Option(name: .customLong("grace-seconds"), help: "Seconds its tokens still PASS (default: the node's key_table_retire_grace_seconds; 0 = at once).")
        var graceSeconds: Int?
        func run() async throws {
            try await client.call("POST", "/api/v1/key-tables/\(id)/retire", body: ["grace_seconds": graceSeconds])
        }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Read the audit trail (admin), one page.")
    @OptionGroup var client: ClientOptions
    @Option(help: "Audit id to continue from (the previous page's next_after).") var after: Int64?
    @Option(help: "Page size, 1-1000.") var limit: Int = 100
    @Flag(help: "Newest first (default: oldest first).") var newest = false
    func run() async throws {
        var path = "/api/v1/audit?limit=\(limit)&order=\(newest ? "desc" : "asc")"
        if let after { path += "&after=\(after)" }
        try await client.call("GET", path)
    }
}

struct CRLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crl", abstract: "Fetch the certificate revocation list (no API key needed).")
    @Option(help: "Node public URL.") var url: String = ProcessInfo.processInfo.environment["SMA_URL"] ?? "http://127.0.0.1:8081"
    @Option(help: "For an https URL: the CA (PEM) of the node's public certificate (default: $SMA_CACERT).")
    var cacert: String = ProcessInfo.processInfo.environment["SMA_CACERT"] ?? ""
    @Option(help: "der or pem.") var format: String = "pem"
    @Option(help: "Write it to this file (default: PEM to stdout).") var out: String?
    func run() async throws {
        guard format == "der" || format == "pem" else { throw ValidationError("--format must be der or pem") }
        let client = CurlHTTPClient(tls: try publicTLS(cacert), threadPool: NIOThreadPool.singleton)
        defer { client.shutdown() }
        let response = try await client.send(method: "GET", url: url + "/api/v1/crl?format=\(format)")
        guard response.status == 200 else {
            FileHandle.standardError.write(Data("sma-node: HTTP \(response.status): \(String(decoding: response.body, as: UTF8.self))\n".utf8))
            throw ExitCode.failure
        }
        if let out {
            try Data(response.body).write(to: URL(fileURLWithPath: out))
            FileHandle.standardError.write(Data("wrote CRL number \(response.header("X-SMA-CRL-Number") ?? "?") to \(out)\n".utf8))
        } else if format == "pem" {
            print(String(decoding: response.body, as: UTF8.self), terminator: "")
        } else {
            FileHandle.standardOutput.write(Data(response.body))
        }
    }
}

/// `sma-node node`: cluster nodes as the log knows them.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Revoke cluster nodes (their peer certificates are refused everywhere) and list revoked ones.",
        subcommands: [Revoke.self, ListRevoked.self])

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a node for good (admin): every peer refuses its certificate once the entry reaches it, and it never leads again.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The node id (its certificate's CN, e.g. r2-n1).") var id: String
        @Option(help: "Why (kept in the log and the audit trail).") var reason: String = "unspecified"
        func run() async throws { try await client.call("POST", "/api/v1/nodes/\(pathComponent(id))/revoke", body: ["reason": reason]) }
    }

    struct ListRevoked: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list-revoked", abstract: "Ids of revoked nodes (admin).")
        @OptionGroup var client: ClientOptions
        func run() async throws { try await client.call("GET", "/api/v1/nodes/revoked") }
    }
}
