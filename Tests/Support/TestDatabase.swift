import Foundation
import NIOPosix
public import Logging
public import SMAPostgres
public import Testing

/// A throwaway database on the server named by `SMA_TEST_DATABASE_URL`: `create()` makes `sma_test_<random>`, `drop()` removes it.
///
/// Other test targets can copy this file: point `SMA_TEST_DATABASE_URL` at a superuser (a libpq URI or
/// key/value conninfo), create one database per suite (`@Suite(.testDatabase)`, then `TestDatabase.current`)
/// or per test, so suites run in parallel without sharing tables.
public struct TestDatabase: Sendable {
    /// The environment variable naming the test server.
    public static let environmentKey = "SMA_TEST_DATABASE_URL"

    /// The database of the enclosing `@Suite(.testDatabase)`.
    @TaskLocal public static var current: TestDatabase?

    /// The database's name, `sma_test_<16 hex digits>`.
    public let name: String
    /// A conninfo for the new database.
    public let conninfo: String
    /// The superuser conninfo from the environment (its own database).
    public let adminConninfo: String

    public struct NotConfigured: Error, CustomStringConvertible {
        public var description: String {
            "PostgreSQL integration tests need a server: set SMA_TEST_DATABASE_URL or run cluster/test "
                + "(e.g. SMA_TEST_DATABASE_URL=postgresql://postgres:devpass@127.0.0.1:55410/postgres)"
        }
    }

    public struct NoSuiteDatabase: Error, CustomStringConvertible {
        public var description: String { "TestDatabase.current is nil: add .testDatabase to the @Suite" }
    }

    /// The suite's database (see `.testDatabase`).
    public static func suite() throws -> TestDatabase {
        guard let current else { throw NoSuiteDatabase() }
        return current
    }

    /// Creates a new empty database; throws `NotConfigured` when `SMA_TEST_DATABASE_URL` is unset.
    public static func create() throws -> TestDatabase {
        guard let admin = ProcessInfo.processInfo.environment[environmentKey], !admin.isEmpty else {
            throw NotConfigured()
        }
        let name = "sma_test_" + String(UInt64.random(in: .min ... .max), radix: 16)
        let connection = try PostgresConnection(conninfo: admin, logger: testLogger)
        try connection.execute(script: "CREATE DATABASE \(name)")
        return TestDatabase(name: name, conninfo: Self.conninfo(admin, database: name), adminConninfo: admin)
    }

    /// Drops the database, also closing connections still open to it.
    public func drop() {
        do {
            let connection = try PostgresConnection(conninfo: adminConninfo, logger: testLogger)
            try connection.execute(script: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        } catch {
            Issue.record("could not drop test database \(name): \(error)")
        }
    }

    /// A new connection to the database (blocking: for synchronous tests of the wrapper itself).
    public func connect(logger: Logger = testLogger) throws -> PostgresConnection {
        try PostgresConnection(conninfo: conninfo, logger: logger)
    }

    // MARK: off the cooperative pool
    //
    // Async tests never block a cooperative thread on libpq (there are as many as cores, two here): these run the
    // blocking work on NIO's thread pool, so suites can run in parallel without starving each other or the nodes
    // they start.

    /// Creates a new empty database, on NIO's thread pool.
    public static func create() async throws -> TestDatabase {
        try await NIOThreadPool.singleton.runIfActive { try TestDatabase.create() as TestDatabase }
    }

    /// Drops the database, on NIO's thread pool.
    public func drop() async {
        do {
            let (admin, name) = (adminConninfo, self.name)
            try await NIOThreadPool.singleton.runIfActive {
                let connection = try PostgresConnection(conninfo: admin, logger: testLogger)
                try connection.execute(script: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            }
        } catch {
            Issue.record("could not drop test database \(name): \(error)")
        }
    }

    /// Runs `body` with a new connection to the database, on NIO's thread pool; the connection closes after it.
    public func withConnection<T: Sendable>(logger: Logger = testLogger, _ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let conninfo = self.conninfo
        return try await NIOThreadPool.singleton.runIfActive {
            try body(try PostgresConnection(conninfo: conninfo, logger: logger))
        }
    }

    /// `conninfo` with its database replaced: the URI's path, or an appended `dbname=` for key/value strings.
    public static func conninfo(_ conninfo: String, database: String) -> String {
        for scheme in ["postgresql://", "postgres://"] where conninfo.hasPrefix(scheme) {
            let rest = conninfo.dropFirst(scheme.count)
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            var tail = rest[authorityEnd...]
            if tail.hasPrefix("/") { tail = tail.drop(while: { $0 != "?" }) }
            return scheme + authority + "/" + database + tail
        }
        return conninfo + " dbname=\(database)"
    }
}

/// Gives a suite its own database for all of its tests: `@Suite(.testDatabase)`, then `TestDatabase.suite()`.
public struct TestDatabaseTrait: SuiteTrait, TestScoping {
    public func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        let database: TestDatabase = try await TestDatabase.create()
        do {
            try await TestDatabase.$current.withValue(database) {
                try await function()
            }
        } catch {
            await database.drop()
            throw error
        }
        await database.drop()
    }
}

extension Trait where Self == TestDatabaseTrait {
    /// Creates a database before the suite's tests and drops it after them.
    public static var testDatabase: Self { TestDatabaseTrait() }
}

/// Quiet by default; set SMA_TEST_LOG_LEVEL=debug to see notices.
public let testLogger: Logger = {
    var logger = Logger(label: "sma.tests")
    logger.logLevel = ProcessInfo.processInfo.environment["SMA_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    return logger
}()
