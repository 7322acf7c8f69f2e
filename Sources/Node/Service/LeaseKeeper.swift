import Logging
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
        // The leader renews every TTL/3; a standby retries more often so a lapsed lease is taken promptly.
        let renewEvery = Duration.milliseconds(Int64(ttlSeconds * 1000 / 3))
        let retryEvery = min(renewEvery, .milliseconds(250))
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                await tick()
                try? await Task.sleep(for: leadership.isLeader ? renewEvery : retryEvery)
            }
        } onGracefulShutdown: {}
        // Hand the lease over promptly on a clean stop.
        let holder = nodeID
        if leadership.isLeader {
            _ = try? await pool.withConnection { c in try Store.releaseLease(c, holder: holder) }
            leadership.lost(currentHolder: nil, epoch: leadership.knownLeader.epoch)
            logger.info("released the leader lease")
        }
    }

    func tick() async {
        let start = ContinuousClock.now
        let holder = nodeID, ttl = ttlSeconds
        do {
            let (epoch, info) = try await pool.withConnection { c -> (Int64?, Store.LeaseInfo) in
                let e = try Store.acquireLease(c, holder: holder, ttlSeconds: ttl)
                return (e, try Store.lease(c))
            }
            if let epoch {
                let wasLeader = leadership.isLeader
                // Believe the lease for TTL minus a margin, counted from before the request was sent.
                leadership.held(by: holder, epoch: epoch, until: start.advanced(by: .milliseconds(Int64(ttl * 1000 * 0.8))))
                metrics.leaseEpoch.set(epoch)
                metrics.isLeader.set(Int64(1))
                if !wasLeader { logger.notice("took the leader lease", metadata: ["lease.epoch": "\(epoch)"]) }
            } else {
                if leadership.isLeader { logger.warning("lost the leader lease", metadata: ["lease.holder": "\(info.holder ?? "-")"]) }
                leadership.lost(currentHolder: info.holder, epoch: info.epoch)
                metrics.isLeader.set(Int64(0))
            }
        } catch {
            // Logged while we still believe we lead (each attempt matters then); quiet otherwise.
            if leadership.isLeader {
                logger.warning("lease renewal failed; writes stop when the lease runs out", metadata: ["error": "\(error)"])
            }
            if !leadership.isLeader { metrics.isLeader.set(Int64(0)) }
        }
    }
}
