import ArgumentParser
import Foundation
import NodeServices
import SMAErrors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `sma-node cluster`: the JSON files of the local cluster that the `cluster/` scripts write:
/// every node's `config.json` and `.cluster/state.json` (docs/ARCHITECTURE.md §4).
///
/// The scripts keep the layout (ids, ports, addresses, paths) and pass it in; these commands own the
/// JSON: which keys a generated config has, how an existing one is updated (edits of other keys are
/// kept), and the shape of the state file. Files are written atomically (temporary file + rename) with
/// mode 0600: configs hold database passwords, the state file the API keys. Errors are one line on
/// stderr (`sma-node cluster ...: error: ...`) and exit status 1.
struct ClusterFilesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Write the local cluster's node configs and state file (used by the cluster/ scripts).",
        subcommands: [Config.self, State.self])

    // MARK: config

    struct Config: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or update NODES-DIR/<id>/config.json for each node read from stdin.",
            discussion: """
            Reads one line per node on stdin (database URLs hold passwords: they are not passed as arguments), \
            tab-separated: ID REGION ROLE PUBLIC_PORT PEER_PORT DATABASE_URL TLS_DIR PEER_HOST.
            A missing config is created (public_host 127.0.0.1, the given ports, peer_host, database_url, \
            kek_file, anonymous_validation false, manufacturer SIMULATED_MFG, log_level info). Every config then \
            gets peer_cert_file/peer_key_file (TLS_DIR/node.pem, node.key) and peer_ca_file unless it names one \
            of them, "timing": "lan" unless it has a timing, its own seeds without its own URL or else every \
            --seed but its own, and log_verification_key when --log-key is given. A config still on the old \
            shared peer address (peer_host 127.0.0.1 and only 127.0.0.1 seeds) is moved to PEER_HOST. With \
            --public-tls, a config that names no public certificate gets public_tls_cert_file/public_tls_key_file \
            (TLS_DIR/public.pem, public.key) and, with --client-ca-file, public_tls_client_ca_file (client \
            certificates optional). With --compat PROFILE, every config gets "compatibility": PROFILE (none or \
            birthmark). Other keys are kept; an unchanged config is not rewritten.
            """)
        @Option(name: .customLong("nodes-dir"), help: "Directory holding <id>/config.json.") var nodesDir: String
        @Option(name: .customLong("kek-file"), help: "The key-encryption key file (kek_file of new configs).") var kekFile: String
        @Option(name: .customLong("ca-file"), help: "The cluster CA of the peer channel (peer_ca_file).") var caFile: String
        @Option(name: .customLong("log-key"), help: "The cluster's log verification key (64 hex digits); empty or absent: leave it.")
        var logKey: String = ""
        @Option(name: .customLong("seed"), help: "Peer URL of a node of the cluster (repeatable; every node's).") var seeds: [String] = []
        @Flag(name: .customLong("public-tls"), help: "Serve HTTPS on the public port (TLS_DIR/public.pem, public.key).") var publicTLS = false
        @Option(name: .customLong("client-ca-file"), help: "With --public-tls: the CA of aggregators' client certificates.")
        var clientCAFile: String = ""
        @Option(name: .customLong("compat"), help: "Compatibility profile written into every config: none or birthmark; absent: leave it.")
        var compat: String = ""

        func run() async throws {
            if !compat.isEmpty && CompatibilityProfile(rawValue: compat) == nil {
                throw ValidationError("--compat must be none or birthmark (got '\(compat)')")
            }
            try ClusterFiles.reporting("cluster config") {
                var count = 0
                while let line = readLine(strippingNewline: true) {
                    if line.isEmpty { continue }
                    count += 1
                    try ClusterFiles.writeNodeConfig(row: ClusterFiles.NodeRow(line: line, number: count),
                                                     nodesDir: nodesDir, kekFile: kekFile, caFile: caFile,
                                                     logKey: logKey, peers: seeds, compat: compat,
                                                     publicTLS: publicTLS ? .init(clientCAFile: clientCAFile.isEmpty ? nil : clientCAFile) : nil)
                }
            }
        }
    }

    // MARK: state

    struct State: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write or update .cluster/state.json.",
            subcommands: [Write.self, SetPID.self])

        struct Write: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write the state file from the nodes' configs and the API keys.",
                discussion: """
                {"nodes": [{"id", "region", "role", "pid", "public_url", "peer_url", "database"}], \
                "api_keys": {"admin", "provisioner", "validator"}}, nodes in the order given.
                """)
            @Option(help: "The state file to write.") var state: String
            @Option(name: .customLong("nodes-dir"), help: "Directory holding <id>/config.json.") var nodesDir: String
            @Option(name: .customLong("api-keys"), help: "JSON object with the admin, provisioner and validator keys.") var apiKeys: String
            @Option(name: .customLong("public-ca"), help: "The CA of the nodes' public certificates (HTTPS), recorded as public_ca_file.")
            var publicCA: String = ""
            @Option(name: .customLong("client-identity"), help: "DIR holding a client certificate (client.pem, client.key) for aggregator tests.")
            var clientIdentity: String = ""
            @Argument(help: "ID=PID (or ID=null) for every node, in order.") var nodes: [String] = []

            func run() async throws {
                try ClusterFiles.reporting("cluster state write") {
                    try ClusterFiles.writeState(path: state, nodesDir: nodesDir, apiKeysPath: apiKeys, nodes: nodes,
                                                publicCA: publicCA, clientIdentity: clientIdentity)
                }
            }
        }

        struct SetPID: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "set-pid", abstract: "Record a node's pid (or null) in the state file.")
            @Option(help: "The state file.") var state: String
            @Option(help: "Node id.") var id: String
            @Option(help: "Process id, or null.") var pid: String

            func run() async throws {
                try ClusterFiles.reporting("cluster state set-pid") {
                    try ClusterFiles.setPID(path: state, nodeID: id, pid: pid)
                }
            }
        }
    }
}

/// A JSON value that keeps every key and number kind of a file it was read from.
enum ClusterJSON: Codable, Equatable, Sendable {
    case object([String: ClusterJSON])
    case array([ClusterJSON])
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int.self) { self = .int(v) }
        else if let v = try? c.decode(Double.self) { self = .double(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([ClusterJSON].self) { self = .array(v) }
        else if let v = try? c.decode([String: ClusterJSON].self) { self = .object(v) }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value") }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .object(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .null: try c.encodeNil()
        }
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var int: Int? { if case .int(let i) = self { return i } else { return nil } }
    /// Python's truthiness, for "a value is set": not null, false, 0, "" or an empty array/object.
    var isSet: Bool {
        switch self {
        case .null: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        }
    }
}

/// The operations behind `sma-node cluster ...`.
enum ClusterFiles {
    /// One line that names the problem (the file, line or argument at fault).
    struct Failure: CodedError {
        let reason: String
        let file: String
        let line: Int
        init(_ reason: String, file: String = #fileID, line: Int = #line) {
            self.reason = reason
            self.file = file
            self.line = line
        }
        var code: String { "cluster_files" }
        var description: String { reason }
    }

    /// Runs BODY; a failure is printed as one line on stderr and becomes exit status 1.
    static func reporting(_ command: String, _ body: () throws -> Void) throws {
        do { try body() } catch {
            let text = (error as? Failure)?.description ?? "\(error)"
            FileHandle.standardError.write(Data("sma-node \(command): error: \(text)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// One node of `cluster config`'s input.
    struct NodeRow {
        let id, region, role: String
        let publicPort, peerPort: Int
        let databaseURL, tlsDir, peerHost: String

        init(line: String, number: Int) throws {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 8 else {
                throw Failure("input line \(number) has \(f.count) tab-separated fields, not 8 (ID REGION ROLE PUBLIC_PORT PEER_PORT DATABASE_URL TLS_DIR PEER_HOST)")
            }
            guard !f[0].isEmpty, !f[0].contains("/"), f[0] != ".", f[0] != ".." else { throw Failure("input line \(number): invalid node id '\(f[0])'") }
            guard let pub = Int(f[3]), (1...65535).contains(pub) else { throw Failure("input line \(number) (\(f[0])): public port '\(f[3])' is not a port number") }
            guard let peer = Int(f[4]), (1...65535).contains(peer) else { throw Failure("input line \(number) (\(f[0])): peer port '\(f[4])' is not a port number") }
            (id, region, role, publicPort, peerPort, databaseURL, tlsDir, peerHost) = (f[0], f[1], f[2], pub, peer, f[5], f[6], f[7])
        }
    }

    // MARK: node configs

    /// `cluster config --public-tls`: HTTPS on the public port, optionally with aggregators' client certificates.
    struct PublicTLS {
        var clientCAFile: String?
    }

    static func writeNodeConfig(row: NodeRow, nodesDir: String, kekFile: String, caFile: String, logKey: String, peers: [String],
                                compat: String = "", publicTLS: PublicTLS? = nil) throws {
        let path = "\(nodesDir)/\(row.id)/config.json"
        let me = "https://\(row.peerHost):\(row.peerPort)"
        let exists = FileManager.default.fileExists(atPath: path)
        var config: [String: ClusterJSON]
        var original: [String: ClusterJSON]?
        if exists {
            guard case .object(let existing) = try read(path) else { throw Failure("\(path) does not hold a JSON object") }
            config = existing
            original = existing
            var oldSeeds: [ClusterJSON] = []
            if case .array(let a)? = config["seeds"] { oldSeeds = a }
            if config["peer_host"] == .string("127.0.0.1"),
               oldSeeds.allSatisfy({ $0.string?.hasPrefix("https://127.0.0.1:") ?? false }) {
                config["peer_host"] = .string(row.peerHost)     // written before regions had their own peer address
                config["seeds"] = .array([])
            }
            // Written before nodes had their own PostgreSQL role: move off the superuser.
            if case .string(let url)? = config["database_url"], url.hasPrefix("postgresql://postgres:"),
               !row.databaseURL.hasPrefix("postgresql://postgres:") {
                config["database_url"] = .string(row.databaseURL)
            }
        } else {
            config = [
                "node_id": .string(row.id), "region": .string(row.region), "role": .string(row.role),
                "public_host": .string("127.0.0.1"), "public_port": .int(row.publicPort),
                "peer_host": .string(row.peerHost), "peer_port": .int(row.peerPort),
                "database_url": .string(row.databaseURL),
                "kek_file": .string(kekFile),
                "anonymous_validation": .bool(false), "manufacturer": .string("SIMULATED_MFG"), "log_level": .string("info"),
            ]
        }
        if !["peer_cert_file", "peer_key_file", "peer_ca_file"].contains(where: { config[$0] != nil }) {
            config["peer_cert_file"] = .string("\(row.tlsDir)/node.pem")
            config["peer_key_file"] = .string("\(row.tlsDir)/node.key")
            config["peer_ca_file"] = .string(caFile)
        }
        if let publicTLS, !["public_tls_cert_file", "public_tls_key_file"].contains(where: { config[$0] != nil }) {
            config["public_tls_cert_file"] = .string("\(row.tlsDir)/public.pem")
            config["public_tls_key_file"] = .string("\(row.tlsDir)/public.key")
            if let ca = publicTLS.clientCAFile, config["public_tls_client_ca_file"] == nil {
                config["public_tls_client_ca_file"] = .string(ca)
                config["public_tls_client_auth"] = .string("optional")
            }
        }
        if config["timing"] == nil { config["timing"] = .string("lan") }
        if !compat.isEmpty { config["compatibility"] = .string(compat) }
        var seeds: [ClusterJSON] = []
        if case .array(let a)? = config["seeds"] { seeds = a.filter { $0 != .string(me) } }
        if seeds.isEmpty { seeds = peers.filter { $0 != me }.map { .string($0) } }
        config["seeds"] = .array(seeds)
        if !logKey.isEmpty {
            if let old = config["log_verification_key"], old.isSet, old != .string(logKey) {
                FileHandle.standardError.write(Data("sma-node cluster config: \(path): log_verification_key replaced by the authoritative database's key\n".utf8))
            }
            config["log_verification_key"] = .string(logKey)
        }
        if exists && config == original { return }
        try writeJSON(.object(config), to: path)
    }

    // MARK: state file

    static func writeState(path: String, nodesDir: String, apiKeysPath: String, nodes: [String], publicCA: String = "",
                           clientIdentity: String = "") throws {
        var entries: [ClusterJSON] = []
        for arg in nodes {
            guard let eq = arg.firstIndex(of: "=") else { throw Failure("'\(arg)' is not ID=PID (or ID=null)") }
            let id = String(arg[..<eq]), pidText = String(arg[arg.index(after: eq)...])
            let pid = try parsePID(pidText, node: id)
            let configPath = "\(nodesDir)/\(id)/config.json"
            guard case .object(let c) = try read(configPath) else { throw Failure("\(configPath) does not hold a JSON object") }
            func text(_ key: String) throws -> String {
                guard let v = c[key]?.string else { throw Failure("\(configPath): \(key) is missing or not a string") }
                return v
            }
            func number(_ key: String) throws -> Int {
                guard let v = c[key]?.int else { throw Failure("\(configPath): \(key) is missing or not an integer") }
                return v
            }
            entries.append(.object([
                "id": .string(id), "region": .string(try text("region")), "role": .string(try text("role")),
                "pid": pid,
                "public_url": .string("\(c["public_tls_cert_file"]?.isSet == true ? "https" : "http")://\(try text("public_host")):\(try number("public_port"))"),
                "peer_url": .string("https://\(try text("peer_host")):\(try number("peer_port"))"),
                "database": .string(try text("database_url")),
            ]))
        }
        guard case .object(let keys) = try read(apiKeysPath) else { throw Failure("\(apiKeysPath) does not hold a JSON object") }
        var apiKeys: [String: ClusterJSON] = [:]
        for role in ["admin", "provisioner", "validator"] {
            guard let key = keys[role], key.string != nil else { throw Failure("\(apiKeysPath) has no \(role) key") }
            apiKeys[role] = key
        }
        var state: [String: ClusterJSON] = ["nodes": .array(entries), "api_keys": .object(apiKeys)]
        if !publicCA.isEmpty { state["public_ca_file"] = .string(publicCA) }
        if !clientIdentity.isEmpty {
            state["client_cert_file"] = .string("\(clientIdentity)/client.pem")
            state["client_key_file"] = .string("\(clientIdentity)/client.key")
        }
        try writeJSON(.object(state), to: path)
    }

    static func setPID(path: String, nodeID: String, pid pidText: String) throws {
        let pid = try parsePID(pidText, node: nodeID)
        guard case .object(var state) = try read(path), case .array(var nodes)? = state["nodes"] else {
            throw Failure("\(path) does not hold a state object with a nodes array")
        }
        guard let i = nodes.firstIndex(where: { if case .object(let n) = $0 { return n["id"] == .string(nodeID) } else { return false } }),
              case .object(var node) = nodes[i] else {
            throw Failure("node '\(nodeID)' is not in \(path)")
        }
        node["pid"] = pid
        nodes[i] = .object(node)
        state["nodes"] = .array(nodes)
        try writeJSON(.object(state), to: path)
    }

    static func parsePID(_ text: String, node: String) throws -> ClusterJSON {
        if text == "null" { return .null }
        guard let pid = Int(text), pid > 0 else { throw Failure("pid '\(text)' of node \(node) is neither a process id nor null") }
        return .int(pid)
    }

    // MARK: files

    static func read(_ path: String) throws -> ClusterJSON {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure("cannot read \(path)") }
        do { return try JSONDecoder().decode(ClusterJSON.self, from: data) } catch { throw Failure("\(path) is not valid JSON") }
    }

    /// Writes VALUE as pretty, key-sorted JSON to PATH: a 0600 temporary file next to it, then rename.
    static func writeJSON(_ value: ClusterJSON, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(value)) + Array("\n".utf8)
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw Failure("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o600)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else {
            unlink(tmp)
            throw Failure("cannot write \(tmp)")
        }
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw Failure("cannot replace \(path): \(reason)")
        }
    }
}
