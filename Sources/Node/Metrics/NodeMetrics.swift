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
    let failovers: Counter
    let devices: Gauge
    private let logRejections: Counter
    private let logRejectionsConflict: Counter
    private let logRejectionsMalformed: Counter
    private let logRejectionsSignature: Counter
    let rateLimited: Counter
    let authFailures: Counter
    let clientErrors: Counter
    let serverErrors: Counter
    let abuseWarnings: Counter
    let abuseRevocations: Counter

    init() {
        passes = registry.makeCounter(descriptor: Self.d("validations_total", "Token and certificate validations by result and reason"), labels: [("result", "pass"), ("reason", "valid")])
        var f: [FailureReason: Counter] = [:]
        for r in FailureReason.allCases {
            f[r] = registry.makeCounter(descriptor: Self.d("validations_total", "Token and certificate validations by result and reason"), labels: [("result", "fail"), ("reason", r.rawValue)])
        }
        failures = f
        validationLatency = registry.makeDurationHistogram(descriptor: Self.d("validation_duration_seconds", "In-process validation time per request"), buckets: [.microseconds(5), .microseconds(20), .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25)])
        provisioned = registry.makeCounter(descriptor: Self.d("devices_provisioned_total", "Devices provisioned through this node"))
        revocations = registry.makeCounter(descriptor: Self.d("device_revocations_total", "Revocations written through this node"))
        reinstatements = registry.makeCounter(descriptor: Self.d("device_reinstatements_total", "Reinstatements written through this node"))
        appliedSeq = registry.makeGauge(descriptor: Self.d("log_applied_seq", "Highest registration-log seq applied to this node's memory"))
        leaseEpoch = registry.makeGauge(descriptor: Self.d("lease_epoch", "Leader lease epoch held by this node (0 when not leader)"))
        failovers = registry.makeCounter(descriptor: Self.d("lease_takeovers_total", "Times this node took the leader lease (a new epoch)"))
        isLeader = registry.makeGauge(descriptor: Self.d("is_leader", "1 when this node holds the leader lease"))
        devices = registry.makeGauge(descriptor: Self.d("devices", "Devices in this node's memory"))
        logRejections = registry.makeCounter(descriptor: Self.d("log_entries_rejected_total", "Log entries refused"), labels: [("reason", "gap")])
        logRejectionsConflict = registry.makeCounter(descriptor: Self.d("log_entries_rejected_total", "Log entries refused"), labels: [("reason", "conflict")])
        logRejectionsMalformed = registry.makeCounter(descriptor: Self.d("log_entries_rejected_total", "Log entries refused"), labels: [("reason", "malformed")])
        logRejectionsSignature = registry.makeCounter(descriptor: Self.d("log_entries_rejected_total", "Log entries refused"), labels: [("reason", "bad_signature")])
        rateLimited = registry.makeCounter(descriptor: Self.d("http_rate_limited_total", "Requests refused with 429"))
        authFailures = registry.makeCounter(descriptor: Self.d("http_auth_failures_total", "Requests refused with 401 or 403"))
        clientErrors = registry.makeCounter(descriptor: Self.d("http_client_errors_total", "Requests answered 4xx"))
        serverErrors = registry.makeCounter(descriptor: Self.d("http_server_errors_total", "Requests answered 5xx"))
        abuseWarnings = registry.makeCounter(descriptor: Self.d("abuse_warnings_total", "Devices whose cluster-wide 24 h validation count crossed the warning threshold (counted by the leader)"))
        abuseRevocations = registry.makeCounter(descriptor: Self.d("abuse_revocations_total", "Devices revoked automatically for abuse (written by the leader)"))
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

    /// `sma_<name>` with its help text (the unit is part of `name`, Prometheus-style: `_total`, `_seconds`).
    private static func d(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "sma", metricName: name, unitName: "", helpText: help)
    }
}
