import Core
package import NodeServices
import Foundation
package import Logging
import Prometheus
import ServiceLifecycle

/// Takes and renews the leader lease (leader-eligible nodes). Renews every TTL/3; if renewal
/// fails, the node stops writing once its local view of the lease runs out (before the database's).
package struct LeaseKeeper: Service {
    package let store: any LeaseStore
    package let leadership: Leadership
    package let metrics: NodeMetrics
    package let nodeID: String
    package let ttlSeconds: Double
    package let logger: Logger


    package init(store: any LeaseStore, leadership: Leadership, metrics: NodeMetrics, nodeID: String, ttlSeconds: Double, logger: Logger) {
        self.store = store
        self.leadership = leadership
        self.metrics = metrics
        self.nodeID = nodeID
        self.ttlSeconds = ttlSeconds
        self.logger = logger
    }
    package func run() async throws {
        await repeatUntilShutdown {
            await tick()
            return leadership.nextAttempt
        }
        // Hand the lease over promptly on a clean stop.
        let holder = nodeID
        if leadership.isLeader {
            try? await store.releaseLease(holder: holder)
            _ = leadership.record(.heldByOther(holder: nil, epoch: leadership.knownLeader.epoch), startedAt: .now)
            metrics.isLeader.set(Int64(0))
            logger.info("released the leader lease")
        }
    }

    /// One attempt to take or renew the lease.
    package func tick() async {
        let start = ContinuousClock.now
        let holder = nodeID, ttl = ttlSeconds
        let attempt: LeaseStateMachine.Attempt
        do {
            if let epoch = try await store.acquireLease(holder: holder, ttlSeconds: ttl) {
                attempt = .held(epoch: epoch)
            } else {
                let info = try await store.lease()
                attempt = .heldByOther(holder: info.holder, epoch: info.epoch)
            }
        } catch {
            attempt = .failed
            if leadership.isLeader {
                logger.warning("lease renewal failed; writes stop when the lease runs out", metadata: ["error": "\(error)"])
            }
        }
        switch leadership.record(attempt, startedAt: start) {
        case .tookLease(let epoch)?:
            metrics.leaseEpoch.set(epoch)
            metrics.failovers.increment()
            logger.notice("took the leader lease", metadata: ["lease.epoch": "\(epoch)"])
        case .lostLease(let holder)?:
            logger.warning("lost the leader lease", metadata: ["lease.holder": "\(holder ?? "-")"])
        case .stoppedWriting?:
            logger.error("stopped writing: the lease could not be renewed before it runs out")
        case nil:
            break
        }
        metrics.isLeader.set(Int64(leadership.isLeader ? 1 : 0))
    }
}
