/// The cluster-wide view of heavy hitters and the warn/revoke decisions: a pure state machine
/// (no I/O, no clock reads: every call takes `nowMillis`).
///
/// It holds the latest report of every node incarnation (ours included), merged like the member
/// table: for each `(node, incarnation)` the highest `version` wins; our own current incarnation is
/// ours alone. A device's cluster-wide count is the sum of its counts in all reports, except counts
/// from reports made before the device was reinstated (`appliedSeq` below the reinstatement's seq).
/// Reports not renewed for a window (`windowMillis`) expire, so a dead node's last counts keep
/// counting until they would have left its window anyway, and are then dropped.
///
/// Decisions are taken only where `isLeader` is true (one node acts, no duplicate revocations):
/// a warning once per device per window; a revocation once per device, retried after
/// `revokeRetryMillis` if the device is still not revoked (e.g. the write failed).
///
/// Peer input never traps: at most `maxReports` reports are kept, reports with more than
/// `maxEntriesPerReport` entries, an empty or overlong node id or serial, a negative seq or a
/// timestamp more than a window in the future are ignored.
public struct AbuseLedger: Sendable {
    public static let maxReports = 128
    public static let maxEntriesPerReport = 500
    public static let maxFieldLength = 256

    /// Our node id.
    public let me: String
    public var thresholds: AbuseThresholds
    /// The counting window, ms (24 h).
    public let windowMillis: Int64
    /// How long a revocation that has not taken effect waits before it is issued again.
    public var revokeRetryMillis: Int64 = 30_000

    public private(set) var reports: [AbuseReport.Key: AbuseReport] = [:]
    /// Serial -> seq of its latest reinstatement (and when we learned it).
    private var resets: [String: (seq: Int64, atMillis: Int64)] = [:]
    private var warnedAt: [String: Int64] = [:]
    private var revocationIssuedAt: [String: Int64] = [:]

    public init(me: String, thresholds: AbuseThresholds, windowMillis: Int64 = 24 * 3600 * 1000) {
        self.me = me
        self.thresholds = thresholds
        self.windowMillis = windowMillis
    }

    /// A device's cluster-wide count with the per-node breakdown (incarnations of a node summed).
    public struct DeviceTotal: Sendable, Equatable {
        public var serial: String
        public var count: UInt64
        public var byNode: [String: UInt64]
    }

    /// What the leader must do.
    public enum Action: Sendable, Equatable {
        case warn(serial: String, count: UInt64)
        case revoke(serial: String, count: UInt64)
    }

    // MARK: Reports

    /// Installs our own current report (replaces the previous version of our incarnation).
    public mutating func setOwn(_ report: AbuseReport) {
        reports[report.key] = report
    }

    /// Merges peers' reports. Returns how many were taken (new or newer).
    @discardableResult
    public mutating func merge(_ incoming: [AbuseReport], myIncarnation: UInt64, nowMillis: Int64) -> Int {
        var taken = 0
        for r in incoming.prefix(Self.maxReports) {
            guard isAcceptable(r, nowMillis: nowMillis) else { continue }
            // Our current (or a "future") incarnation is ours alone; our earlier incarnations come back from peers.
            if r.node == me && r.incarnation >= myIncarnation { continue }
            if let held = reports[r.key] {
                guard r.version > held.version else { continue }
            } else if reports.count >= Self.maxReports {
                continue
            }
            reports[r.key] = r
            taken += 1
        }
        return taken
    }

    private func isAcceptable(_ r: AbuseReport, nowMillis: Int64) -> Bool {
        guard !r.node.isEmpty, r.node.utf8.count <= Self.maxFieldLength, r.appliedSeq >= 0,
              r.counts.count <= Self.maxEntriesPerReport,
              nowMillis - r.generatedAtMillis <= windowMillis, r.generatedAtMillis - nowMillis <= windowMillis else { return false }
        return r.counts.keys.allSatisfy { !$0.isEmpty && $0.utf8.count <= Self.maxFieldLength }
    }

    /// Every report held, ordered by node and incarnation (what a gossip request carries).
    public var allReports: [AbuseReport] {
        reports.keys.sorted().compactMap { reports[$0] }
    }

    /// The reports we hold that are missing from, or newer than, `theirs` (what a gossip answer carries).
    public func reports(newerThan theirs: [AbuseReport]) -> [AbuseReport] {
        var known: [AbuseReport.Key: UInt64] = [:]
        for r in theirs.prefix(Self.maxReports) { known[r.key] = max(known[r.key] ?? 0, r.version) }
        return allReports.filter { r in known[r.key].map { r.version > $0 } ?? true }
    }

    // MARK: Reinstatement and expiry

    /// A device was reinstated by log entry `seq`: counts reported before it (by any node) no longer count,
    /// and it may be warned about and revoked again once its new count crosses the thresholds.
    public mutating func deviceReinstated(serial: String, seq: Int64, nowMillis: Int64) {
        resets[serial] = (max(seq, resets[serial]?.seq ?? 0), nowMillis)
        warnedAt[serial] = nil
        revocationIssuedAt[serial] = nil
    }

    /// Drops reports, reinstatement marks and decisions older than a window.
    public mutating func expire(nowMillis: Int64) {
        reports = reports.filter { nowMillis - $0.value.generatedAtMillis <= windowMillis }
        resets = resets.filter { nowMillis - $0.value.atMillis <= windowMillis }
        warnedAt = warnedAt.filter { nowMillis - $0.value <= windowMillis }
        revocationIssuedAt = revocationIssuedAt.filter { nowMillis - $0.value <= windowMillis }
    }

    // MARK: Sums and decisions

    /// Cluster-wide counts by serial.
    public func totals() -> [String: DeviceTotal] {
        var out: [String: DeviceTotal] = [:]
        for r in reports.values {
            for (serial, n) in r.counts where n > 0 {
                if let reset = resets[serial], r.appliedSeq < reset.seq { continue }
                var t = out[serial] ?? DeviceTotal(serial: serial, count: 0, byNode: [:])
                t.count += UInt64(n)
                t.byNode[r.node, default: 0] += UInt64(n)
                out[serial] = t
            }
        }
        return out
    }

    /// Whether the leader already warned about `serial` in this window.
    public func wasWarned(_ serial: String) -> Bool { warnedAt[serial] != nil }

    /// Expires old state, then (only when `isLeader`) returns the warnings and revocations due.
    ///
    /// `isRevoked(serial)` is the registry's answer: nil for an unknown device (nothing is done),
    /// true for a revoked one (no warning, no revocation).
    public mutating func evaluate(nowMillis: Int64, isLeader: Bool, isRevoked: (String) -> Bool?) -> [Action] {
        expire(nowMillis: nowMillis)
        guard isLeader, thresholds.enabled else { return [] }
        var actions: [Action] = []
        for (serial, t) in totals().sorted(by: { $0.key < $1.key }) {
            let warn = thresholds.warnPerWindow > 0 && t.count >= UInt64(thresholds.warnPerWindow)
            let revoke = thresholds.revokePerWindow > 0 && t.count >= UInt64(thresholds.revokePerWindow)
            guard warn || revoke, isRevoked(serial) == false else { continue }
            if warn && warnedAt[serial] == nil {
                warnedAt[serial] = nowMillis
                actions.append(.warn(serial: serial, count: t.count))
            }
            if revoke {
                if let at = revocationIssuedAt[serial], nowMillis - at < revokeRetryMillis { continue }
                revocationIssuedAt[serial] = nowMillis
                actions.append(.revoke(serial: serial, count: t.count))
            }
        }
        return actions
    }
}
