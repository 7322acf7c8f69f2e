import SMATestSupport
import Logging
import NIOPosix
import SMAPostgres
import Synchronization
import Testing

/// The pool against a real server (one database for the suite).
@Suite(.testDatabase) struct PostgresPoolTests {
    /// Runs `body` with a started thread pool, shut down afterwards.
    func withThreadPool<T>(threads: Int = 4, _ body: (NIOThreadPool) async throws -> T) async throws -> T {
        let threadPool = NIOThreadPool(numberOfThreads: threads)
        threadPool.start()
        do {
            let value = try await body(threadPool)
            try await threadPool.shutdownGracefully()
            return value
        } catch {
            try? await threadPool.shutdownGracefully()
            throw error
        }
    }

    @Test func servesMoreConcurrentCallersThanItsSize() async throws {
        let database = try TestDatabase.suite()
        try await withThreadPool { threadPool in
            let pool = PostgresPool(conninfo: database.conninfo, size: 3, threadPool: threadPool, logger: testLogger)
            defer { pool.close() }
            let inFlight = InFlight()
            let pids = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            inFlight.enter()
                            defer { inFlight.leave() }
                            let row = try connection.query("SELECT pg_backend_pid(), \(i), pg_sleep(0.02)::text").first!
                            #expect(try row.decode(1, as: Int.self) == i)
                            return try row.decode(0, as: Int.self)
                        }
                    }
                }
                var pids: [Int] = []
                for try await pid in group { pids.append(pid) }
                return pids
            }
            #expect(pids.count == 20)
            #expect(Set(pids).count <= 3)
            #expect(inFlight.peak <= 3)
            #expect(inFlight.peak >= 2)
            #expect(pool.waitingCount == 0)
            #expect(pool.idleCount == Set(pids).count)
        }
    }

    @Test func replacesAConnectionTheServerClosedWhileIdle() async throws {
        let database = try TestDatabase.suite()
        try await withThreadPool { threadPool in
            let pool = PostgresPool(conninfo: database.conninfo, size: 1, threadPool: threadPool, logger: testLogger)
            defer { pool.close() }
            let first = try await pool.withConnection { $0.backendPID }
            let admin = try database.connect()
            try admin.query("SELECT pg_terminate_backend(\(Int32(first)), 5000)")
            let second = try await pool.withConnection { connection in
                try connection.query("SELECT pg_backend_pid()").first!.decode(0, as: Int.self)
            }
            #expect(second != first)
        }
    }

    @Test func rollsBackATransactionACallerLeftOpen() async throws {
        let database = try TestDatabase.suite()
        try database.connect().execute(script: "CREATE TABLE pool_left_open (id int)")
        try await withThreadPool { threadPool in
            let pool = PostgresPool(conninfo: database.conninfo, size: 1, threadPool: threadPool, logger: testLogger)
            defer { pool.close() }
            try await pool.withConnection { connection in
                try connection.execute(script: "BEGIN; INSERT INTO pool_left_open VALUES (1)")
            }
            let count = try await pool.withConnection { connection in
                try connection.query("SELECT count(*) FROM pool_left_open").first!.decode(0, as: Int.self)
            }
            #expect(count == 0)
        }
    }

    @Test func waitingCallerTimesOut() async throws {
        let database = try TestDatabase.suite()
        try await withThreadPool { threadPool in
            let pool = PostgresPool(
                conninfo: database.conninfo, size: 1, checkoutTimeout: .milliseconds(100), threadPool: threadPool, logger: testLogger
            )
            defer { pool.close() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                let holding = Flag(), release = Flag()
                group.addTask { _ = try await pool.withConnection { holding.set(); release.wait(); return try $0.query("SELECT 1") } }
                while !holding.isSet { try await Task.sleep(for: .milliseconds(5)) }
                let error = await #expect(throws: PostgresError.self) {
                    try await pool.withConnection { _ in }
                }
                #expect(error?.code == .timeout)
                release.set()
                try await group.waitForAll()
            }
            #expect(pool.waitingCount == 0)
            try await pool.withConnection { _ in }  // the slot came back
        }
    }

    @Test func closeFailsWaitersAndRefusesNewCheckouts() async throws {
        let database = try TestDatabase.suite()
        try await withThreadPool { threadPool in
            let pool = PostgresPool(conninfo: database.conninfo, size: 1, checkoutTimeout: nil, threadPool: threadPool, logger: testLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                let holding = Flag(), release = Flag()
                group.addTask { _ = try await pool.withConnection { holding.set(); release.wait(); return try $0.query("SELECT 1") } }
                while !holding.isSet { try await Task.sleep(for: .milliseconds(5)) }
                group.addTask {
                    let error = await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in } }
                    #expect(error?.code == .poolClosed)
                }
                while pool.waitingCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
                pool.close()
                release.set()
                try await group.waitForAll()
            }
            let error = await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in } }
            #expect(error?.code == .poolClosed)
        }
    }

    @Test func cancelledWaiterLeavesTheQueue() async throws {
        let database = try TestDatabase.suite()
        try await withThreadPool { threadPool in
            let pool = PostgresPool(conninfo: database.conninfo, size: 1, checkoutTimeout: nil, threadPool: threadPool, logger: testLogger)
            defer { pool.close() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                let holding = Flag(), release = Flag()
                group.addTask { _ = try await pool.withConnection { holding.set(); release.wait(); return try $0.query("SELECT 1") } }
                while !holding.isSet { try await Task.sleep(for: .milliseconds(5)) }
                let waiter = Task { try await pool.withConnection { _ in } }
                while pool.waitingCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
                waiter.cancel()
                await #expect(throws: CancellationError.self) { try await waiter.value }
                #expect(pool.waitingCount == 0)
                release.set()
                try await group.waitForAll()
            }
            try await pool.withConnection { _ in }
        }
    }

    @Test func connectionFailureIsReportedAndFreesTheSlot() async throws {
        try await withThreadPool { threadPool in
            let pool = PostgresPool(
                conninfo: "postgresql://postgres:hidden-pw@127.0.0.1:1/postgres?connect_timeout=2",
                size: 1, threadPool: threadPool, logger: testLogger
            )
            defer { pool.close() }
            for _ in 0..<2 {
                let error = await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in } }
                #expect(error?.code == .connectionFailed)
                #expect(error?.description.contains("hidden-pw") == false)
            }
        }
    }
}

/// Counts closures running at once and the most seen.
private final class InFlight: Sendable {
    private let state = Mutex((now: 0, peak: 0))
    func enter() { state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var peak: Int { state.withLock { $0.peak } }
}

/// A one-way flag a blocking body can raise and a test can poll (or a pool thread can wait on).
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
    /// Blocks the calling (thread-pool) thread until set; gives up after 30 s so a failing test cannot hang the run.
    func wait() {
        for _ in 0..<15_000 where !isSet { usleep(2_000) }
    }
}
