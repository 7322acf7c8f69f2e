import Core
import Foundation
package import Logging
import ServiceLifecycle

/// Keeps the CRL current (leader-eligible nodes): while this node is the leader it issues the first CRL of a
/// cluster and a new one before half of the current one's validity has elapsed.
package struct CRLKeeper: Service {
    package let devices: DeviceService
    package let state: NodeState
    package let leadership: Leadership
    package let logger: Logger


    package init(devices: DeviceService, state: NodeState, leadership: Leadership, logger: Logger) {
        self.devices = devices
        self.state = state
        self.leadership = leadership
        self.logger = logger
    }
    /// How often the keeper looks: a tenth of the validity, between 1 s and 60 s.
    package var period: Duration {
        .milliseconds(Int64(min(60, max(1, devices.crl.validitySeconds / 10)) * 1000))
    }

    package func run() async throws {
        await repeatUntilShutdown {
            await tick()
            // Until a first CRL exists (a database from before CRLs), look every second.
            return state.crl == nil ? .seconds(1) : period
        }
    }

    /// Whether a CRL issued at `thisUpdateMillis` is due for re-issue at `nowMillis`.
    package static func isDue(thisUpdateMillis: Int64?, nowMillis: Int64, validitySeconds: Double) -> Bool {
        guard let issued = thisUpdateMillis else { return true }
        return nowMillis >= issued + Int64(validitySeconds * 500)
    }

    package func tick() async {
        guard leadership.isLeader, state.isReady else { return }
        guard Self.isDue(thisUpdateMillis: state.crl?.thisUpdateMillis, nowMillis: Registry.systemMillis(),
                         validitySeconds: devices.crl.validitySeconds) else { return }
        do {
            let seq = try await devices.issueCRL()
            logger.info("issued a certificate revocation list", metadata: ["log.seq": "\(seq.map(String.init) ?? "-")"])
        } catch {
            logger.warning("could not issue a certificate revocation list", metadata: ["error": "\(error)"])
        }
    }
}
