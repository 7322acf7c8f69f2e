import Core
import Prometheus
import Logging

/// The node's Prometheus metrics (served at `/metrics`). Counters are created once, so the hot path only increments.
final class NodeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let passes: Counter
    private let failures: [FailureReason: Counter]
    let validationLatency: DurationHistogram
    let provisioned: Counter
    let revocations: Counter
    let reinstatements: Counter
    let appliedSeq: Gauge
    let leaseEpoch: Gauge
    let isLeader: Gauge
    let devices: Gauge
    private let logRejections: Counter
    private let logRejectionsConflict: Counter
    private let logRejectionsMalformed: Counter
    private let logRejectionsSignature: Counter
    let rateLimited: Counter
    let authFailures: Counter
    let clientErrors: Counter
    let serverErrors: Counter

    init() {
        passes = registry.makeCounter(name: "sma_validations_total", labels: [("result", "pass"), ("reason", "valid")],
                                      help: "Token and certificate validations by result and reason")
        var f: [FailureReason: Counter] = [:]
        for r in FailureReason.allCases {
            f[r] = registry.makeCounter(name: "sma_validations_total", labels: [("result", "fail"), ("reason", r.rawValue)],
                                        help: "Token and certificate validations by result and reason")
        }
        failures = f
        validationLatency = registry.makeDurationHistogram(
            name: "sma_validation_duration_seconds", labels: [],
            buckets: [.microseconds(5), .microseconds(20), .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25)],
            help: "In-process validation time per request")
        provisioned = registry.makeCounter(name: "sma_devices_provisioned_total", help: "Devices provisioned through this node")
        revocations = registry.makeCounter(name: "sma_device_revocations_total", help: "Revocations written through this node")
        reinstatements = registry.makeCounter(name: "sma_device_reinstatements_total", help: "Reinstatements written through this node")
        appliedSeq = registry.makeGauge(name: "sma_log_applied_seq", help: "Highest registration-log seq applied to this node's memory")
        leaseEpoch = registry.makeGauge(name: "sma_lease_epoch", help: "Leader lease epoch held by this node (0 when not leader)")
        isLeader = registry.makeGauge(name: "sma_is_leader", help: "1 when this node holds the leader lease")
        devices = registry.makeGauge(name: "sma_devices", help: "Devices in this node's memory")
        logRejections = registry.makeCounter(name: "sma_log_entries_rejected_total", labels: [("reason", "gap")], help: "Log entries refused")
        logRejectionsConflict = registry.makeCounter(name: "sma_log_entries_rejected_total", labels: [("reason", "conflict")], help: "Log entries refused")
        logRejectionsMalformed = registry.makeCounter(name: "sma_log_entries_rejected_total", labels: [("reason", "malformed")], help: "Log entries refused")
        logRejectionsSignature = registry.makeCounter(name: "sma_log_entries_rejected_total", labels: [("reason", "bad_signature")], help: "Log entries refused")
        rateLimited = registry.makeCounter(name: "sma_http_rate_limited_total", help: "Requests refused with 429")
        authFailures = registry.makeCounter(name: "sma_http_auth_failures_total", help: "Requests refused with 401 or 403")
        clientErrors = registry.makeCounter(name: "sma_http_client_errors_total", help: "Requests answered 4xx")
        serverErrors = registry.makeCounter(name: "sma_http_server_errors_total", help: "Requests answered 5xx")
    }

    @inline(__always)
    func record(_ outcome: ValidationOutcome) {
        switch outcome {
        case .pass: passes.increment()
        case .fail(let r): failures[r]!.increment()
        }
    }

    func logRejected(reason: String) {
        switch reason {
        case "conflict": logRejectionsConflict.increment()
        case "malformed": logRejectionsMalformed.increment()
        case "bad_signature": logRejectionsSignature.increment()
        default: logRejections.increment()
        }
    }

    func exposition() -> [UInt8] { registry.emitToBuffer() }
}
