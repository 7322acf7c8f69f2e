package import Core
import Foundation
package import Logging
import Prometheus
import ServiceLifecycle

/// Drives abuse detection: every round it drains this node's validation counts into its window
/// and, on the leader, logs warnings and revokes devices whose corroborated cluster-wide 24 h count
/// crossed the thresholds (through the normal revocation path: a replicated log entry, whose audit
/// row names the nodes that counted most); a revocation that is due but not corroborated, or any under
/// `abuse_warn_only`, is only logged (`abuse revocation withheld`) and counted.
package struct AbuseService: Service {
    package let monitor: AbuseMonitor
    package let state: NodeState
    package let leadership: Leadership
    package let devices: DeviceService?
    package let metrics: NodeMetrics
    package let interval: Duration
    package let logger: Logger


    package init(monitor: AbuseMonitor, state: NodeState, leadership: Leadership, devices: DeviceService?, metrics: NodeMetrics, interval: Duration, logger: Logger) {
        self.monitor = monitor
        self.state = state
        self.leadership = leadership
        self.devices = devices
        self.metrics = metrics
        self.interval = interval
        self.logger = logger
    }
    package func run() async throws {
        guard monitor.enabled else { return }
        await repeatUntilShutdown {
            await step()
            return interval
        }
    }

    /// One round: count, then act (leader only).
    package func step() async {
        monitor.tick(appliedSeq: state.applied)
        let isLeader = leadership.isLeader && devices != nil
        for action in monitor.evaluate(isLeader: isLeader) {
            switch action {
            case .warn(let serial, let count):
                metrics.abuseWarnings.increment()
                logger.warning("device exceeds the abuse warning threshold", metadata: [
                    "device.serial": "\(serial)", "abuse.count": "\(count)", "abuse.warn_per_day": "\(monitor.thresholds.warnPerWindow)"])
            case .withhold(let serial, let count, let why, let contributors):
                metrics.abuseRevocationsWithheld.increment()
                logger.warning("abuse revocation withheld", metadata: [
                    "device.serial": "\(serial)", "abuse.count": "\(count)", "abuse.revoke_per_day": "\(monitor.thresholds.revokePerWindow)",
                    "abuse.withheld_because": "\(why.rawValue)", "abuse.contributors": "\(Self.describe(contributors))",
                    "abuse.api_keys": "\(Self.describe(monitor.topCallers(of: serial)))"])
            case .revoke(let serial, let count, let contributors):
                guard let devices else { continue }
                let reason = "abuse: \(Self.grouped(count)) validations in \(Self.hours(monitor.windowHours)) h"
                var actor = AuditActor.abuseDetector(nodeID: monitor.nodeID)
                let keys = monitor.topCallers(of: serial)
                actor.note = "counted by \(Self.describe(contributors))" + (keys.isEmpty ? "" : "; API keys \(Self.describe(keys))")
                do {
                    if let seq = try await devices.revoke(serial: DeviceSerial(unchecked: serial), reason: reason, actor: actor) {
                        metrics.abuseRevocations.increment()
                        logger.warning("device revoked for abuse", metadata: [
                            "device.serial": "\(serial)", "abuse.count": "\(count)", "abuse.revoke_per_day": "\(monitor.thresholds.revokePerWindow)",
                            "abuse.contributors": "\(Self.describe(contributors))", "abuse.api_keys": "\(Self.describe(keys))",
                            "log.seq": "\(seq)"])
                    }
                } catch {
                    logger.error("abuse revocation failed; it will be retried", metadata: ["device.serial": "\(serial)", "error": "\(error)"])
                }
            }
        }
    }

    /// `[a1: 20, b1: 12]` -> "a1 (20), b1 (12)": the nodes whose counts made the decision, highest first.
    package static func describe(_ contributors: [AbuseLedger.Contribution]) -> String {
        contributors.map { "\($0.node) (\(grouped($0.count)))" }.joined(separator: ", ")
    }

    /// `[("4", 9600), ("7", 320)]` -> "#4 (~9,600), #7 (~320)": the API keys (by id) whose validations were sampled
    /// most, with estimated counts; "none sampled" when no key was (anonymous validations, or too few).
    package static func describe(_ keys: [(keyID: String, estimate: UInt64)]) -> String {
        keys.isEmpty ? "none sampled" : keys.map { "#\($0.keyID) (~\(grouped($0.estimate)))" }.joined(separator: ", ")
    }

    /// 10312 -> "10,312".
    package static func grouped(_ n: UInt64) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }

    package static func hours(_ h: Double) -> String {
        h == h.rounded() ? String(Int(h)) : String(format: "%.2f", h)
    }
}
