package import Core
package import Foundation
import Logging
package import Prometheus
import Synchronization

/// The node's Prometheus metrics (served at `/metrics`), named by Prometheus conventions: `sma_` prefix,
/// `_total` counters, `_seconds` base units, variants as labels. Counters are created once, so the hot
/// path only increments.
package final class NodeMetrics: Sendable {
    package let registry = PrometheusCollectorRegistry()
    private let passes: Counter
    private let failures: [FailureReason: Counter]
    package let validationLatency: DurationHistogram
    package let provisioned: Counter
    package let revocations: Counter
    package let reinstatements: Counter
    package let appliedSeq: Gauge
    package let leaseEpoch: Gauge
    package let isLeader: Gauge
    package let failovers: Counter
    package let leaderChanges: Counter
    package let devices: Gauge
    /// Memory/database disagreements found by the last `/stats` check (docs/ARCHITECTURE.md §4.1); -1 until one ran.
    package let registryDisagreements: Gauge
    package let lagEntries: Gauge
    package let lagSeconds: Gauge
    package let gossipRounds: Counter
    package let gossipFailures: Counter
    package let pullFailures: Counter
    package let pushFailures: Counter
    private let logRejections: Counter
    private let logRejectionsConflict: Counter
    private let logRejectionsMalformed: Counter
    private let logRejectionsSignature: Counter
    package let rateLimited: Counter
    package let authFailures: Counter
    package let clientErrors: Counter
    package let serverErrors: Counter
    package let abuseWarnings: Counter
    package let abuseRevocations: Counter
    package let abuseRevocationsWithheld: Counter
    private let abuseReportsRefusedTotal: Counter
    /// Peer-channel requests refused because the calling node is revoked.
    package let peerRequestsRefused: Counter
    /// Gossiped member records ignored as not authentic (unsigned, untrusted or mismatched certificate, revoked
    /// node, a follower claiming the lease, bad signature).
    private let memberRecordsRefused: Counter
    /// Reloads of the public listener's certificate (SIGHUP), by result.
    private let publicTLSReloads: Counter
    private let publicTLSReloadFailures: Counter
    private let publicTLSHandshakeFailures: Counter
    /// End of validity of the certificate the public listener presents, seconds since 1970 (0 without HTTPS).
    private let publicTLSNotAfter: Gauge
    /// Revocations applied to memory ahead of their turn (ahead of a gap, or before the database had them).
    package let revocationsAppliedEarly: Counter
    /// Early revocations memory still holds against earlier entries (until it applies them in order).
    package let earlyRevocationHolds: Gauge
    /// Replicated batches this node's database could not take (applied to memory only; the database is refilled later).
    package let storeWriteFailures: Counter
    /// Entries memory has applied that this node's database does not have yet.
    package let storeBehindEntries: Gauge
    /// How old this node's knowledge of the log is (docs/ARCHITECTURE.md §2.9, "Staleness"), updated every gossip round.
    package let leaderContactAge: Gauge
    /// The knowledge age at each validation request.
    package let validationKnowledgeAge: DurationHistogram
    /// Validation answers given while the knowledge was older than `max_staleness_seconds`, by `staleness_mode`.
    package let staleValidationsWarn: Counter
    package let staleValidationsFail: Counter

    /// PASS/FAIL totals for the status page's series: relaxed atomic adds next to the Prometheus counters
    /// (which cannot be read back); sampled into `series` once a second off the request path.
    private let passTotal = Atomic<Int64>(0)
    private let failTotal = Atomic<Int64>(0)
    private let sampled = Mutex<Sampled>(Sampled())
    private struct Sampled {
        var series = ValidationSeries(width: 10, capacity: 90)
        var pass: Int64 = 0
        var fail: Int64 = 0
    }
    /// HTTP latency histograms by (route, method, status), created on first use.
    private let httpHistograms = Mutex<[HTTPKey: DurationHistogram]>([:])
    private struct HTTPKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }
    /// The last leader this node knew (for `sma_leader_changes_total`).
    private let lastLeader = Mutex<String?>(nil)
    /// When this node last had applied everything it knew of (milliseconds since 1970), for the lag in seconds.
    private let caughtUpAtMillis = Atomic<Int64>(Int64(Date().timeIntervalSince1970 * 1000))

    package static let httpBuckets: [Duration] = [.microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
                                          .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                          .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]

    package init() {
        let validations = Self.d("validations_total", "Token and certificate validations by result and reason")
        passes = registry.makeCounter(descriptor: validations, labels: [("result", "pass"), ("reason", "valid")])
        var f: [FailureReason: Counter] = [:]
        for r in FailureReason.allCases {
            f[r] = registry.makeCounter(descriptor: validations, labels: [("result", "fail"), ("reason", r.rawValue)])
        }
        failures = f
        validationLatency = registry.makeDurationHistogram(descriptor: Self.d("validation_duration_seconds", "In-process validation time per request"), buckets: [.microseconds(5), .microseconds(20), .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25)])
        provisioned = registry.makeCounter(descriptor: Self.d("devices_provisioned_total", "Devices provisioned through this node (as leader)"))
        revocations = registry.makeCounter(descriptor: Self.d("device_revocations_total", "Revocations written through this node (as leader)"))
        reinstatements = registry.makeCounter(descriptor: Self.d("device_reinstatements_total", "Reinstatements written through this node (as leader)"))
        appliedSeq = registry.makeGauge(descriptor: Self.d("log_applied_seq", "Highest registration-log seq applied to this node's memory"))
        leaseEpoch = registry.makeGauge(descriptor: Self.d("lease_epoch", "Leader lease epoch this node last took (0 if it never held the lease)"))
        failovers = registry.makeCounter(descriptor: Self.d("lease_takeovers_total", "Times this node took the leader lease (a new epoch)"))
        leaderChanges = registry.makeCounter(descriptor: Self.d("leader_changes_total", "Times the leader known to this node changed to another node (failovers)"))
        isLeader = registry.makeGauge(descriptor: Self.d("is_leader", "1 when this node holds the leader lease"))
        devices = registry.makeGauge(descriptor: Self.d("devices", "Devices in this node's memory"))
        registryDisagreements = registry.makeGauge(descriptor: Self.d("registry_disagreements",
            "Devices on which memory and this node's database disagreed at the last /stats check (device count and revoked flags; -1 before the first check)"))
        registryDisagreements.set(Int64(-1))
        lagEntries = registry.makeGauge(descriptor: Self.d("replication_lag_entries", "Log entries known to exist in the cluster but not yet applied here"))
        lagSeconds = registry.makeGauge(descriptor: Self.d("replication_lag_seconds", "How long this node has been behind the newest log entry it knows of (0 when caught up)"))
        gossipRounds = registry.makeCounter(descriptor: Self.d("gossip_rounds_total", "Gossip rounds started"))
        gossipFailures = registry.makeCounter(descriptor: Self.d("gossip_failures_total", "Gossip exchanges with a peer that failed"))
        pullFailures = registry.makeCounter(descriptor: Self.d("log_pull_failures_total", "Anti-entropy log pulls from a peer that failed"))
        pushFailures = registry.makeCounter(descriptor: Self.d("log_push_failures_total", "Log pushes to a peer that failed"))
        let rejected = Self.d("log_entries_rejected_total", "Log entries refused")
        logRejections = registry.makeCounter(descriptor: rejected, labels: [("reason", "gap")])
        logRejectionsConflict = registry.makeCounter(descriptor: rejected, labels: [("reason", "conflict")])
        logRejectionsMalformed = registry.makeCounter(descriptor: rejected, labels: [("reason", "malformed")])
        logRejectionsSignature = registry.makeCounter(descriptor: rejected, labels: [("reason", "bad_signature")])
        rateLimited = registry.makeCounter(descriptor: Self.d("http_rate_limited_total", "Requests refused with 429"))
        authFailures = registry.makeCounter(descriptor: Self.d("http_auth_failures_total", "Requests refused with 401 or 403"))
        clientErrors = registry.makeCounter(descriptor: Self.d("http_client_errors_total", "Requests answered 4xx"))
        serverErrors = registry.makeCounter(descriptor: Self.d("http_server_errors_total", "Requests answered 5xx"))
        abuseWarnings = registry.makeCounter(descriptor: Self.d("abuse_warnings_total", "Devices whose cluster-wide 24 h validation count crossed the warning threshold (counted by the leader)"))
        abuseRevocations = registry.makeCounter(descriptor: Self.d("abuse_revocations_total", "Devices revoked automatically for abuse (written by the leader)"))
        abuseRevocationsWithheld = registry.makeCounter(descriptor: Self.d("abuse_revocations_withheld_total", "Abuse revocations due but withheld by the leader (not corroborated by a second node, or abuse_warn_only): a human decides"))
        abuseReportsRefusedTotal = registry.makeCounter(descriptor: Self.d("abuse_reports_refused_total", "Abuse reports refused from peers (not about the sending node, unknown node, dated in the future or expired, malformed)"))
        peerRequestsRefused = registry.makeCounter(descriptor: Self.d("peer_requests_refused_total", "Peer-channel requests refused because the calling node is revoked"))
        memberRecordsRefused = registry.makeCounter(descriptor: Self.d("member_records_refused_total", "Gossiped member records ignored as not authentic (unsigned, untrusted or mismatched certificate, revoked node, follower claiming the lease, bad signature)"))
        let reloads = Self.d("public_tls_reloads_total", "Reloads of the public listener's certificate and key (SIGHUP) by result; a failed one keeps the old certificate")
        publicTLSReloads = registry.makeCounter(descriptor: reloads, labels: [("result", "ok")])
        publicTLSReloadFailures = registry.makeCounter(descriptor: reloads, labels: [("result", "failed")])
        publicTLSHandshakeFailures = registry.makeCounter(descriptor: Self.d("public_tls_handshake_failures_total", "Connections to the HTTPS public port refused at the TLS handshake (plain HTTP, TLS < 1.2, a client certificate not from the client CA)"))
        publicTLSNotAfter = registry.makeGauge(descriptor: Self.d("public_tls_certificate_not_after_seconds", "End of validity of the certificate the public listener presents (Unix time; 0 without HTTPS)"))
        revocationsAppliedEarly = registry.makeCounter(descriptor: Self.d("revocations_applied_early_total", "Verified revocations applied to memory ahead of their turn (ahead of a gap, or before this node's database had them)"))
        earlyRevocationHolds = registry.makeGauge(descriptor: Self.d("early_revocation_holds", "Revocations applied early that memory has not yet reached in seq order"))
        storeWriteFailures = registry.makeCounter(descriptor: Self.d("replicated_store_failures_total", "Replicated batches this node's database could not take (applied to memory only; the database is refilled by anti-entropy)"))
        storeBehindEntries = registry.makeGauge(descriptor: Self.d("database_behind_entries", "Log entries applied to memory that this node's database does not have yet"))
        leaderContactAge = registry.makeGauge(descriptor: Self.d("leader_contact_age_seconds", "How old this node's knowledge of the log is: time since it last knew it had everything the leader had (0 on the leader)"))
        validationKnowledgeAge = registry.makeDurationHistogram(descriptor: Self.d("validation_knowledge_age_seconds", "Knowledge age (sma_leader_contact_age_seconds) at each validation request"),
            buckets: [.milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(3600)])
        let stale = Self.d("stale_validations_total", "Validation answers given while this node's knowledge was older than max_staleness_seconds, by staleness_mode (warn: PASS kept; fail: PASS turned into FAIL)")
        staleValidationsWarn = registry.makeCounter(descriptor: stale, labels: [("mode", "warn")])
        staleValidationsFail = registry.makeCounter(descriptor: stale, labels: [("mode", "fail")])
    }

    /// Counts a gossiped member record refused as not authentic (`sma_member_records_refused_total`).
    package func memberRecordRefused() { memberRecordsRefused.increment() }

    /// The public listener now presents a certificate valid until `notAfter` (at start: `reloaded` false).
    package func publicTLSCertificate(notAfter: Date, reloaded: Bool) {
        publicTLSNotAfter.set(notAfter.timeIntervalSince1970)
        if reloaded { publicTLSReloads.increment() }
    }

    /// A connection to the HTTPS public port failed its handshake.
    package func publicTLSHandshakeFailed() { publicTLSHandshakeFailures.increment() }

    /// A reload of the public certificate failed (the previous one stays).
    package func publicTLSReloadFailed() { publicTLSReloadFailures.increment() }

    /// Counts abuse reports refused from a peer (`sma_abuse_reports_refused_total`).
    package func abuseReportsRefused(_ n: Int) {
        if n > 0 { abuseReportsRefusedTotal.increment(by: Int64(n)) }
    }

    @inline(__always)
    package func record(_ outcome: ValidationOutcome) {
        switch outcome {
        case .pass:
            passes.increment()
            passTotal.add(1, ordering: .relaxed)
        case .fail(let r):
            failures[r]!.increment()
            failTotal.add(1, ordering: .relaxed)
        }
    }

    /// Counts a batch with one atomic add per outcome kind.
    package func record(_ outcomes: [ValidationOutcome]) {
        var pass: Int64 = 0
        var fails: [FailureReason: Int64] = [:]
        for o in outcomes {
            switch o {
            case .pass: pass += 1
            case .fail(let r): fails[r, default: 0] += 1
            }
        }
        if pass > 0 {
            passes.increment(by: pass)
            passTotal.add(pass, ordering: .relaxed)
        }
        var failed: Int64 = 0
        for (r, n) in fails {
            failures[r]!.increment(by: n)
            failed += n
        }
        if failed > 0 { failTotal.add(failed, ordering: .relaxed) }
    }

    /// Moves the PASS/FAIL counts since the last sample into the bucket of `now` (the sampler calls it every second).
    package func sampleValidations(now: Date = Date()) {
        let p = passTotal.load(ordering: .relaxed), f = failTotal.load(ordering: .relaxed)
        let t = Int64(now.timeIntervalSince1970)
        sampled.withLock { s in
            s.series.add(pass: p - s.pass, fail: f - s.fail, at: t)
            s.pass = p
            s.fail = f
        }
    }

    /// This node's per-10-second PASS/FAIL counts over the last 15 minutes, oldest first.
    package func validationSeries(now: Date = Date()) -> [ValidationSeries.Bucket] {
        sampleValidations(now: now)
        return sampled.withLock { $0.series.buckets(endingAt: Int64(now.timeIntervalSince1970)) }
    }

    /// Records one answered HTTP request in `sma_http_request_duration_seconds{route,method,status}`.
    package func recordHTTP(route: String, method: String, status: Int, duration: Duration) {
        let key = HTTPKey(route: route, method: method, status: status)
        let histogram = httpHistograms.withLock { cache in
            if let h = cache[key] { return h }
            let h = registry.makeDurationHistogram(
                descriptor: Self.d("http_request_duration_seconds", "Time to answer a public HTTP request, by route pattern, method and status"),
                labels: [("route", route), ("method", method), ("status", String(status))], buckets: Self.httpBuckets)
            cache[key] = h
            return h
        }
        histogram.record(duration)
    }

    /// Notes the leader this node currently knows; a change from one known leader to another counts as a failover.
    package func noteLeader(_ id: String?) {
        guard let id else { return }
        let changed = lastLeader.withLock { last -> Bool in
            defer { last = id }
            return last != nil && last != id
        }
        if changed { leaderChanges.increment() }
    }

    /// Updates the lag gauges from this node's applied seq and the highest seq it knows of; returns (entries, seconds).
    @discardableResult
    package func updateLag(applied: Int64, highestKnown: Int64, now: Date = Date()) -> (entries: Int64, seconds: Double) {
        let nowMillis = Int64(now.timeIntervalSince1970 * 1000)
        let entries = max(0, highestKnown - applied)
        var seconds = 0.0
        if entries == 0 {
            caughtUpAtMillis.store(nowMillis, ordering: .relaxed)
        } else {
            seconds = Double(max(0, nowMillis - caughtUpAtMillis.load(ordering: .relaxed))) / 1000
        }
        lagEntries.set(entries)
        lagSeconds.set(seconds)
        return (entries, seconds)
    }

    package func logRejected(reason: String) {
        switch reason {
        case "conflict": logRejectionsConflict.increment()
        case "malformed": logRejectionsMalformed.increment()
        case "bad_signature": logRejectionsSignature.increment()
        default: logRejections.increment()
        }
    }

    package func exposition() -> [UInt8] { registry.emitToBuffer() }

    /// `sma_<name>` with its help text (the unit is part of `name`, Prometheus-style: `_total`, `_seconds`).
    private static func d(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "sma", metricName: name, unitName: "", helpText: help)
    }
}
