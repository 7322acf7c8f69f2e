import Logging
import Replication
import ServiceLifecycle
import SMAPostgres
import Prometheus

/// Takes and renews the leader lease (leader-eligible nodes). Renews every TTL/3; if renewal
/// fails, the node stops writing once its local view of the lease runs out (before the database's).
struct LeaseKeeper: Service {
    let pool: PostgresPool
    let leadership: Leadership
    let metrics: NodeMetrics
    let nodeID: String
    let ttlSeconds: Double
    let logger: Logger

    func run() async throws {
        await repeatUntilShutdown {
            await tick()
            return leadership.nextAttempt
        }
        // Hand the lease over promptly on a clean stop.
        let holder = nodeID
        if leadership.isLeader {
            _ = try? await pool.withConnection { c in try Store.releaseLease(c, holder: holder) }
            _ = leadership.record(.heldByOther(holder: nil, epoch: leadership.knownLeader.epoch), startedAt: .now)
            metrics.isLeader.set(Int64(0))
            logger.info("released the leader lease")
        }
    }

    /// One attempt to take or renew the lease.
    func tick() async {
        let start = ContinuousClock.now
        let holder = nodeID, ttl = ttlSeconds
        let attempt: LeaseStateMachine.Attempt
        do {
            attempt = try await pool.withConnection { c -> LeaseStateMachine.Attempt in
                if let epoch = try Store.acquireLease(c, holder: holder, ttlSeconds: ttl) { return .held(epoch: epoch) }
                let info = try Store.lease(c)
                return .heldByOther(holder: info.holder, epoch: info.epoch)
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
