package import Core
import Foundation
import Logging
import Synchronization

/// This node's abuse detection state: its own sliding-window counts (drained from the registry's
/// per-device counters) and the cluster-wide `AbuseLedger` fed first-hand by gossip (each peer's own report,
/// authenticated by its certificate). The shell around the pure
/// `SlidingWindowCounts` and `AbuseLedger`; `AbuseService` drives it, the gossip loop exchanges reports.
package final class AbuseMonitor: Sendable {
    package let nodeID: String
    package let incarnation: UInt64
    package let thresholds: AbuseThresholds
    /// Window geometry: `buckets` buckets of `bucketSeconds` (24 x 1 h).
    package let buckets: Int
    package let bucketSeconds: Int64
    /// Our report is re-issued at least this often even when unchanged, so peers do not expire it.
    package static let refreshMillis: Int64 = 10 * 60 * 1000
    private let registry: Registry

    private struct Inner {
        var window: SlidingWindowCounts
        var ledger: AbuseLedger
        var version: UInt64 = 0
        var lastCounts: [String: UInt32] = [:]
        var lastGeneratedMillis: Int64 = 0
        var lastCallers: [String: [String: UInt32]] = [:]
        /// When the caller samples were last forgotten (they cover about one window).
        var callersSince: Int64 = 0
    }
    private let inner: Mutex<Inner>

    package init(nodeID: String, incarnation: UInt64, thresholds: AbuseThresholds, registry: Registry,
         buckets: Int = 24, bucketSeconds: Int64 = 3600, nowMillis: Int64 = AbuseMonitor.nowMillis()) {
        self.nodeID = nodeID
        self.incarnation = incarnation
        self.thresholds = thresholds
        self.registry = registry
        self.buckets = buckets
        self.bucketSeconds = bucketSeconds
        inner = Mutex(Inner(window: SlidingWindowCounts(buckets: buckets, bucketSeconds: bucketSeconds, floor: thresholds.reportFloor,
                                                        now: nowMillis / 1000),
                            ledger: AbuseLedger(me: nodeID, thresholds: thresholds, windowMillis: Int64(buckets) * bucketSeconds * 1000)))
    }

    package static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    package var enabled: Bool { thresholds.enabled }
    package var windowHours: Double { Double(Int64(buckets) * bucketSeconds) / 3600 }
    package var windowMillis: Int64 { Int64(buckets) * bucketSeconds * 1000 }

    /// Moves the validations counted since the last tick into our window and refreshes our own report.
    /// `appliedSeq` must be read before the call (the report says which reinstatements it reflects).
    package func tick(appliedSeq: Int64, nowMillis: Int64 = AbuseMonitor.nowMillis()) {
        guard enabled else { return }
        inner.withLock { s in
            // Drained under our lock, so a concurrent reinstatement cannot slip between drain and add.
            let drained = registry.drainValidationCounts()
            s.window.add(drained, now: nowMillis / 1000)
            let heavy = s.window.heavyHitters(limit: AbuseLedger.maxEntriesPerReport)
            let serials = registry.serials(slots: heavy.map(\.slot))
            var counts: [String: UInt32] = [:]
            var callers: [String: [String: UInt32]] = [:]
            if s.callersSince == 0 { s.callersSince = nowMillis }
            if nowMillis - s.callersSince >= windowMillis {
                registry.callers.resetAll()
                s.callersSince = nowMillis
            }
            for (i, h) in heavy.enumerated() {
                guard let serial = serials[i] else { continue }
                counts[serial] = h.count
                let top = registry.callers.top(slot: h.slot)
                if !top.isEmpty { callers[serial] = Dictionary(uniqueKeysWithValues: top.map { (String($0.caller), $0.estimate) }) }
            }
            if s.version == 0 || counts != s.lastCounts || callers != s.lastCallers || nowMillis - s.lastGeneratedMillis >= Self.refreshMillis {
                s.version += 1
                s.lastCounts = counts
                s.lastCallers = callers
                s.lastGeneratedMillis = nowMillis
                s.ledger.setOwn(AbuseReport(node: nodeID, incarnation: incarnation, version: s.version, generatedAtMillis: nowMillis,
                                            appliedSeq: appliedSeq, counts: counts, callers: callers.isEmpty ? nil : callers))
            }
        }
    }

    /// What a gossip request carries: our own current report only (reports are taken first-hand, never relayed).
    package func gossipReports() -> [AbuseReport] {
        guard enabled else { return [] }
        return inner.withLock { s in s.ledger.reports[AbuseReport.Key(node: nodeID, incarnation: incarnation)].map { [$0] } ?? [] }
    }

    /// Takes the reports a peer sent about itself. `reporter` is the node id of the peer's verified certificate
    /// (nil: not authenticated, nothing is taken); `reporterIsMember` whether it is a member of the cluster.
    @discardableResult
    package func receive(_ reports: [AbuseReport], from reporter: String?, reporterIsMember: Bool,
                         nowMillis: Int64 = AbuseMonitor.nowMillis()) -> (taken: Int, refused: [AbuseLedger.Refusal]) {
        guard enabled, !reports.isEmpty else { return (0, []) }
        guard let reporter else { return (0, reports.map { _ in .notFromReporter }) }
        return inner.withLock { s in s.ledger.receive(reports, from: reporter, reporterIsMember: reporterIsMember, nowMillis: nowMillis) }
    }

    /// A reinstatement was applied (log entry `seq`): the device starts a new window here and in the cluster-wide sum.
    package func deviceReinstated(serial: String, seq: Int64, nowMillis: Int64 = AbuseMonitor.nowMillis()) {
        guard enabled else { return }
        inner.withLock { s in
            if let slot = registry.resetValidationCount(serial: DeviceSerial(unchecked: serial)) { s.window.reset(slot: slot) }
            s.ledger.deviceReinstated(serial: serial, seq: seq, nowMillis: nowMillis)
        }
    }

    /// The leader's due warnings and revocations (empty elsewhere).
    package func evaluate(isLeader: Bool, nowMillis: Int64 = AbuseMonitor.nowMillis()) -> [AbuseLedger.Action] {
        guard enabled else { return [] }
        return inner.withLock { s in
            s.ledger.evaluate(nowMillis: nowMillis, isLeader: isLeader) { serial in registry.device(serial: DeviceSerial(unchecked: serial))?.revoked }
        }
    }

    /// The API keys that validated `serial` most, cluster-wide, from every report held (estimates, highest first,
    /// at most `CallerSamples.named`).
    package func topCallers(of serial: String) -> [(keyID: String, estimate: UInt64)] {
        var sums: [String: UInt64] = [:]
        inner.withLock { s in
            for r in s.ledger.allReports { for (key, n) in r.callers?[serial] ?? [:] { sums[key, default: 0] += UInt64(n) } }
        }
        return sums.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(CallerSamples.named).map { (keyID: $0.key, estimate: $0.value) }
    }

    /// Cluster-wide totals and the reports they come from (for `GET /api/v1/abuse`).
    package func snapshot(nowMillis: Int64 = AbuseMonitor.nowMillis()) -> (totals: [AbuseLedger.DeviceTotal], reports: [AbuseReport]) {
        inner.withLock { s in
            s.ledger.expire(nowMillis: nowMillis)
            return (Array(s.ledger.totals().values), s.ledger.allReports)
        }
    }
}
