import Core
import Logging
import ServiceLifecycle
import SMAPostgres
import Prometheus

/// Reads entries that reach this node's database from elsewhere (the other leader-eligible node,
/// an operator's `sma-node api-key create`) and applies them to memory, verified, in order.
struct LogTailer: Service {
    let pool: PostgresPool
    let state: NodeState
    let verifier: LogVerifier
    let period: Duration
    let logger: Logger

    func run() async throws {
        var failing = false
        await repeatUntilShutdown {
            let ok = await poll(quiet: failing)
            if ok && failing { logger.notice("reading the log from the database works again") }
            failing = !ok
            return period
        }
    }

    /// Applies what is new in the database's log. Returns false when the database could not be read
    /// (logged once per outage when `quiet` is set by the loop).
    @discardableResult
    func poll(quiet: Bool = false) async -> Bool {
        do {
            while true {
                let after = state.applied
                let entries = try await pool.withConnection { c in try Store.entries(c, after: after, limit: 1000) }
                guard !entries.isEmpty else { return true }
                var verified: [LogEntry] = []
                for e in entries {
                    do {
                        _ = try verifier.verify(e)
                        verified.append(e)
                    } catch {
                        state.metrics.logRejected(reason: "bad_signature")
                        logger.error("refused a log entry from the database", metadata: ["log.seq": "\(e.seq)", "error": "\(error)"])
                        break
                    }
                }
                state.offer(verified)
                if verified.count < entries.count || entries.count < 1000 { return true }
            }
        } catch {
            if !quiet { logger.warning("could not read the log from the database; validation continues from memory", metadata: ["error": "\(error)"]) }
            return false
        }
    }
}
