import API
import ArgumentParser
import Core
import Foundation
import Logging
import NIOPosix
import NodeServices
import Replication
import SMAPostgres
import ServiceLifecycle
import Storage
import UnixSignals

/// `sma-node`: the SMA cluster node and its operator commands.
@main
struct SMANodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sma-node",
        abstract: "Simulated Manufacturer Authority node: validates Birthmark camera tokens and provisions cameras.",
        subcommands: [ServeCommand.self, InitCommand.self, KEKCommand.self, APIKeyCommand.self, CameraTokenCommand.self, PKICommand.self, LogKeyCommand.self,
                      ProvisionCommand.self, RevokeCommand.self, ReinstateCommand.self, DeviceCommand.self,
                      KeyTableCommand.self, AuditCommand.self, CRLCommand.self,
                      ClusterFilesCommand.self, NodeCommand.self,
                      ])
}

/// Options shared by commands that act on a node's own configuration.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Node configuration file (JSON). Environment variables SMA_<KEY> override its keys.")
    var config: String

    func load() throws -> NodeConfiguration {
        do { return try NodeConfiguration.load(path: config) } catch let e as ConfigurationError {
            throw ValidationError(e.description)
        }
    }
}

func makeLogger(_ label: String, level: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = Logger.Level(rawValue: level) ?? .info
    return logger
}

/// Runs blocking database work for one-shot commands.
func withDatabase<T: Sendable>(_ conninfo: String, logger: Logger, _ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
    let threadPool = NIOThreadPool(numberOfThreads: 1)
    threadPool.start()
    do {
        let value = try await threadPool.runIfActive {
            let c = try PostgresConnection(conninfo: conninfo, logger: logger)
            return try body(c)
        }
        try? await threadPool.shutdownGracefully()
        return value
    } catch {
        try? await threadPool.shutdownGracefully()
        throw error
    }
}

/// Prints an operator-facing error and exits non-zero, without a stack trace.
func fail(_ error: any Error) -> ExitCode {
    let text: String
    switch error {
    case let e as NodeError: text = e.reason
    case let e as PostgresError: text = "database: \(e)"
    case let e as AuthorityError: text = e.reason
    default: text = "\(error)"
    }
    FileHandle.standardError.write(Data("sma-node: error: \(text)\n".utf8))
    return ExitCode.failure
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the node until SIGTERM or SIGINT.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        LoggingSystem.bootstrap { label in
            NodeLogHandler(label: label, level: Logger.Level(rawValue: config.logLevel) ?? .info)
        }
        var logger = Logger(label: "sma-node")
        logger[metadataKey: "node.id"] = "\(config.nodeID)"
        let runtime: NodeRuntime
        do { runtime = try await NodeRuntime.start(config: config, logger: logger) } catch { throw fail(error) }
        let services: [any Service] = [runtime.application()] + runtime.backgroundServices()
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do { try await group.run() } catch {
            logger.error("node stopped with an error", metadata: ["error": "\(error)"])
        }
        await runtime.shutdown()
        logger.notice("stopped")
    }
}

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the schema, key tables, certificate authority and log-signing key in the node's database.")
    @OptionGroup var options: ConfigOption
    @Option(help: "Number of key tables.") var tables: Int = BirthmarkProtocol.defaultTableCount
    @Flag(help: "Replace existing keys (discards every device, key table and API key).") var force = false

    func validate() throws {
        guard (3...65_536).contains(tables) else { throw ValidationError("--tables must be between 3 and 65536") }
    }

    func run() async throws {
        let config = try options.load()
        let logger = makeLogger("sma-node.init", level: "warning")
        let (tables, force) = (self.tables, self.force)
        do {
            let kek = try NodeRuntime.readKEK(path: config.kekFile)
            let summary = try await withDatabase(config.databaseURL, logger: logger) { c in
                try NodeBootstrap.initialize(c, kek: kek, tables: tables, manufacturer: config.manufacturer, force: force,
                                             crlValidity: .milliseconds(Int64(config.crlValidityHours * 3_600_000)),
                                             logger: logger) { print($0) }
            }
            print("initialized: \(summary.tables) key tables, CA and log-signing key sealed under KEK \(summary.kekFingerprint); log head seq \(summary.headSeq)")
        } catch { throw fail(error) }
    }
}

struct KEKCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kek", abstract: "Key-encryption key file.",
                                                    subcommands: [Generate.self])
    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a new random key-encryption key (mode 0600).")
        @Option(help: "Where to write it.") var out: String
        @Flag(help: "Overwrite an existing file (data sealed with the old key becomes unreadable).") var force = false

        func run() async throws {
            if FileManager.default.fileExists(atPath: out) && !force {
                throw fail(NodeError(.alreadyInitialized, "\(out) exists; refusing to overwrite a key-encryption key (use --force)"))
            }
            let (kek, text) = KeyEncryptionKey.generate()
            let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard fd >= 0 else { throw fail(NodeError(.internal, "cannot create \(out): \(String(cString: strerror(errno)))")) }
            fchmod(fd, 0o600)
            let ok = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) == $0.count - 1 }
            fsync(fd)
            close(fd)
            guard ok else { throw fail(NodeError(.internal, "cannot write \(out)")) }
            print("wrote key-encryption key \(kek.fingerprint) to \(out)")
        }
    }
}

struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key",
        abstract: "Manage API keys: create on the write region's database (bootstrap), or list, revoke and rotate through a running node.",
        subcommands: [Create.self, List.self, Revoke.self, Rotate.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every API key with its state (admin; no secrets).")
        @OptionGroup var client: ClientOptions
        func run() async throws { try await client.call("GET", "/api/v1/api-keys") }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key on every node (admin).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The key's id (see `api-key list`).") var id: Int64
        func run() async throws { try await client.call("POST", "/api/v1/api-keys/\(id)/revoke") }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace an API key with a new one of the same name and role; prints the new key (only time it is shown).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The key's id (see `api-key list`).") var id: Int64
        @Option(help: "Seconds the old key stays valid (0 to 604800).") var grace: Int = 0
        func run() async throws { try await client.call("POST", "/api/v1/api-keys/\(id)/rotate", body: ["grace_seconds": grace]) }
    }
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key; prints the key (only time it is shown) on stdout.")
        @OptionGroup var options: ConfigOption
        @Option(help: "validator, provisioner or admin.") var role: String
        @Option(help: "A name for the key's owner (appears in logs).") var name: String

        func run() async throws {
            guard let role = Role(rawValue: role) else { throw ValidationError("--role must be validator, provisioner or admin") }
            let config = try options.load()
            let name = self.name
            do {
                try DeviceService.checkText(name, field: "--name")
                let kek = try NodeRuntime.readKEK(path: config.kekFile)
                let created = try await withDatabase(config.databaseURL, logger: makeLogger("sma-node", level: "warning")) { c in
                    try NodeBootstrap.createAPIKey(c, kek: kek, role: role, name: name)
                }
                print(created.key)
                FileHandle.standardError.write(Data("created \(role.rawValue) key #\(created.id) '\(name)' (log seq \(created.seq))\n".utf8))
            } catch { throw fail(error) }
        }
    }
}

struct LogKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log-key",
        abstract: "Print the cluster's log verification key (hex), for the `log_verification_key` of nodes in other regions.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        do {
            let key = try await withDatabase(config.databaseURL, logger: makeLogger("sma-node", level: "warning")) { c in
                try Store.meta(c, Store.MetaKey.logPublicKey)
            }
            guard let key else { throw NodeError(.notInitialized, "this database has no log key: run `sma-node init` on the write region's database") }
            print(Hex.encode(key))
        } catch { throw fail(error) }
    }
}
