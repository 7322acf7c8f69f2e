package import Core
package import NodeServices
import Foundation
package import Logging
import Prometheus
import ServiceLifecycle

/// Reads entries that reach this node's database from elsewhere (the other leader-eligible node,
/// an operator's `sma-node api-key create`) and applies them to memory, verified, in order.
package struct LogTailer: Service {
    package let store: any LogStore
    package let state: NodeState
    package let verifier: LogVerifier
    package let period: Duration
    package let logger: Logger


    package init(store: any LogStore, state: NodeState, verifier: LogVerifier, period: Duration, logger: Logger) {
        self.store = store
        self.state = state
        self.verifier = verifier
        self.period = period
        self.logger = logger
    }
    package func run() async throws {
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
    package func poll(quiet: Bool = false) async -> Bool {
        do {
            while true {
                let after = state.applied
                let entries = try await store.entries(after: after, limit: 1000)
                guard !entries.isEmpty else { return true }
                var verified: [(entry: LogEntry, change: LogChange)] = []
                for e in entries {
                    do {
                        verified.append((e, try verifier.verify(e)))
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
