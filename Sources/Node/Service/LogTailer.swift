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
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                await poll()
                try? await Task.sleep(for: period)
            }
        } onGracefulShutdown: {}
    }

    func poll() async {
        do {
            while true {
                let after = state.applied
                let entries = try await pool.withConnection { c in try Store.entries(c, after: after, limit: 1000) }
                guard !entries.isEmpty else { return }
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
                if verified.count < entries.count || entries.count < 1000 { return }
            }
        } catch {
            logger.warning("could not read the log from the database", metadata: ["error": "\(error)"])
        }
    }
}
