public import Logging
public import NIOPosix
import Synchronization

/// Fixed-size pool; every blocking libpq call runs on the given NIOThreadPool (runIfActive), never on the cooperative pool or an event loop.
///
/// Connections are opened lazily, at most `size` at a time. When all are lent out, callers wait in FIFO
/// order (up to `checkoutTimeout`). A connection found closed by the server when it is checked out is
/// replaced; one returned broken, or mid-statement, is dropped and replaced on a later checkout.
/// A transaction left open by a caller is rolled back before the connection is reused.
public final class PostgresPool: Sendable {
    private let conninfo: String
    /// The maximum number of open connections.
    public let size: Int
    private let checkoutTimeout: Duration?
    private let threadPool: NIOThreadPool
    private let logger: Logger
    private let state: Mutex<State>

    private struct Waiter: Sendable {
        let id: UInt64
        let continuation: CheckedContinuation<PostgresConnection?, any Error>
    }

    private struct State {
        /// Open connections not lent out (most recently used last).
        var idle: [PostgresConnection] = []
        /// Slots not lent out: idle connections plus connections not opened yet.
        var available: Int
        /// Callers waiting for a slot, oldest first; non-empty only while `available == 0`.
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var isClosed = false
    }

    /// The outcome of a caller's closure plus the connection to give back (nil: drop it).
    private struct Lease<T: Sendable>: Sendable {
        var result: Result<T, any Error>
        var connection: PostgresConnection?
    }

    /// Creates a pool; no connection is opened until the first `withConnection`.
    /// - Parameters:
    ///   - conninfo: A libpq conninfo or URI (add `connect_timeout=<s>` to bound connection attempts).
    ///   - size: The maximum number of connections (at least 1).
    ///   - checkoutTimeout: How long a caller waits for a free connection before `.timeout`; nil waits forever. Default 10 s.
    ///   - threadPool: Runs every blocking libpq call; give it at least `size` threads to use them all at once.
    ///   - logger: For connection events; connections log server notices to it at debug level.
    public init(
        conninfo: String,
        size: Int,
        checkoutTimeout: Duration? = .seconds(10),
        threadPool: NIOThreadPool,
        logger: Logger
    ) {
        precondition(size >= 1, "a pool needs at least one connection")
        self.conninfo = conninfo
        self.size = size
        self.checkoutTimeout = checkoutTimeout
        self.threadPool = threadPool
        self.logger = logger
        self.state = Mutex(State(available: size))
    }

    /// Runs `body` with a connection on a thread of the thread pool and returns its result.
    ///
    /// Waits (FIFO) when all connections are in use. The connection must not escape `body`.
    /// Throws `.poolClosed` after `close()`, `.timeout` when no connection frees up in time,
    /// `.connectionFailed` when a new connection cannot be opened, `CancellationError` when the task
    /// is cancelled while waiting, or whatever `body` throws.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let leased = try await checkout()
        let lease: Lease<T>
        do {
            lease = try await threadPool.runIfActive { self.run(body, on: leased) }
        } catch {
            // The closure did not run: cancelled while queued, or the thread pool is not active.
            release(leased)
            if error is CancellationError { throw error }
            throw PostgresError(code: .poolClosed, message: "the thread pool is not running")
        }
        release(lease.connection)
        return try lease.result.get()
    }

    /// Closes idle connections, fails waiting callers with `.poolClosed`, and refuses new checkouts;
    /// connections in use are closed when they come back.
    public func close() {
        let (idle, waiters) = state.withLock { state -> ([PostgresConnection], [Waiter]) in
            guard !state.isClosed else { return ([], []) }
            state.isClosed = true
            defer {
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: Self.closedError) }
        dispose(idle)
        if !idle.isEmpty || !waiters.isEmpty {
            logger.debug("postgres pool closed", metadata: ["postgres.pool.closed_idle": "\(idle.count)", "postgres.pool.failed_waiters": "\(waiters.count)"])
        }
    }

    /// The number of callers waiting for a connection (for metrics).
    public var waitingCount: Int { state.withLock { $0.waiters.count } }

    /// The number of open connections not lent out (for metrics).
    public var idleCount: Int { state.withLock { $0.idle.count } }

    // MARK: Checkout and release

    private static let closedError = PostgresError(code: .poolClosed, message: "the connection pool is closed")

    /// A slot: an idle connection, or nil when the caller must open one.
    private func checkout() async throws -> PostgresConnection? {
        enum Immediate {
            case lease(PostgresConnection?)
            case closed
            case wait(UInt64)
        }
        let immediate = state.withLock { state -> Immediate in
            if state.isClosed { return .closed }
            if state.available > 0 {
                state.available -= 1
                return .lease(state.idle.popLast())
            }
            state.nextWaiterID += 1
            return .wait(state.nextWaiterID)
        }
        switch immediate {
        case .closed:
            throw Self.closedError
        case .lease(let connection):
            return connection
        case .wait(let id):
            guard let checkoutTimeout else { return try await wait(id) }
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await Task.sleep(for: checkoutTimeout)
                    self.failWaiter(id, with: PostgresError(code: .timeout, message: "no pooled connection became free within \(checkoutTimeout)"))
                }
                defer { group.cancelAll() }
                return try await self.wait(id)
            }
        }
    }

    /// Queues the caller until `release` hands it a slot (or close, cancellation or the timeout fails it).
    private func wait(_ id: UInt64) async throws -> PostgresConnection? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresConnection?, any Error>) in
                let outcome = state.withLock { state -> Result<PostgresConnection?, any Error>? in
                    if state.isClosed { return .failure(Self.closedError) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.available > 0 {  // a slot came free since `checkout` looked
                        state.available -= 1
                        return .success(state.idle.popLast())
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            self.failWaiter(id, with: CancellationError())
        }
    }

    /// Fails the waiter `id` if it is still queued.
    private func failWaiter(_ id: UInt64, with error: any Error) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    /// Gives a slot back: to the oldest waiter, else to the idle list. nil means the slot has no open connection.
    private func release(_ connection: PostgresConnection?) {
        enum Action {
            case none
            case hand(Waiter)
            case discard
        }
        let action = state.withLock { state -> Action in
            if state.isClosed {
                state.available += 1
                return .discard
            }
            if !state.waiters.isEmpty { return .hand(state.waiters.removeFirst()) }
            state.available += 1
            if let connection { state.idle.append(connection) }
            return .none
        }
        switch action {
        case .none: break
        case .hand(let waiter): waiter.continuation.resume(returning: connection)
        case .discard: if let connection { dispose([connection]) }
        }
    }

    /// Lets the thread pool run the connections' `deinit` (PQfinish), off the caller's thread.
    private func dispose(_ connections: [PostgresConnection]) {
        guard !connections.isEmpty else { return }
        threadPool.submit { _ in withExtendedLifetime(connections) {} }
    }

    // MARK: On a thread-pool thread

    private func run<T: Sendable>(_ body: (PostgresConnection) throws -> T, on leased: PostgresConnection?) -> Lease<T> {
        let connection: PostgresConnection
        do {
            connection = try ready(leased)
        } catch {
            return Lease(result: .failure(error), connection: nil)
        }
        let result = Result { try body(connection) }
        if case .failure(let error as PostgresError) = result, error.meansServerIsNoLongerPrimary {
            // A promotion elsewhere made this server a standby (or it is cut off): the next connection lets
            // libpq find the current primary (target_session_attrs=read-write in a multi-host conninfo).
            logger.info("postgres server is read-only or lost its standbys; reconnecting", metadata: ["postgres.error": "\(error)"])
            return Lease(result: result, connection: nil)
        }
        return Lease(result: result, connection: connection.prepareForReuse() ? connection : nil)
    }

    /// The leased connection if it is still alive, else a new one.
    private func ready(_ leased: PostgresConnection?) throws(PostgresError) -> PostgresConnection {
        if let leased {
            if leased.checkAliveWhileIdle() { return leased }
            logger.info("postgres connection was closed while idle; reconnecting")
        }
        return try PostgresConnection(conninfo: conninfo, logger: logger)
    }
}
