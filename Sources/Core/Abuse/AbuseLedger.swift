/// The cluster-wide view of heavy hitters and the warn/revoke decisions: a pure state machine
/// (no I/O, no clock reads: every call takes `nowMillis`).
///
/// **What it holds.** The latest report of every node incarnation, ours included. Reports are taken
/// first-hand only: a report about node X is accepted only from a connection whose verified certificate
/// is X's (`reporter`), and only if X is a member of the cluster. Nobody can speak for another node, so
/// nothing is relayed: every node gossips its own report to random peers every round, and so reaches
/// every other node directly. For each `(node, incarnation)` the highest `version` wins; our own reports
/// are ours alone (never taken from a peer).
///
/// **Bounds.** At most `maxIncarnationsPerNode` (2) incarnations per node (a newer incarnation replaces
/// the oldest), at most `maxReporters` distinct nodes (new ones are refused when full, never evicting a
/// held one), `maxEntriesPerReport` entries per report. Since only members can report, and only about
/// themselves, fake node ids take no room at all. A report dated more than `maxFutureSkewMillis` (60 s)
/// after `nowMillis` is refused; one made more than a window (`windowMillis`) ago is refused, and held
/// reports expire a window after they were made.
///
/// **Sums.** A device's cluster-wide count is the sum of its counts in all reports, except counts from
/// reports made before the device was reinstated (`appliedSeq` below the reinstatement's seq).
///
/// **Decisions** are taken only where `isLeader` is true (one node acts, no duplicate revocations):
/// - a warning once per device per window when the count reaches `warnPerWindow`;
/// - at `revokePerWindow`, a revocation only if the count is *corroborated*: our own counts (which this
///   node observed itself) count in full, every other node's at most `perReporterCap` (half the
///   threshold). So one node's reports, even authenticated, can never alone revoke a device (that node
///   may be the compromised one); two nodes that each saw half the threshold, or our own counts, can.
///   A revocation is issued once per device, retried after `revokeRetryMillis` if the device is still
///   not revoked (e.g. the write failed);
/// - a revocation that is due but not corroborated, or any revocation under `warnOnly`, is *withheld*:
///   reported once per device per window for a human to decide.
///
/// Peer input never traps.
public struct AbuseLedger: Sendable {
    /// Distinct reporting nodes held at most (a cluster has far fewer members).
    public static let maxReporters = 1024
    /// Incarnations of one node held at most (the current one and the one before a restart).
    public static let maxIncarnationsPerNode = 2
    public static let maxEntriesPerReport = 500
    public static let maxFieldLength = 256
    /// How far in the future a report may be dated (clock skew between nodes), ms.
    public static let maxFutureSkewMillis: Int64 = 60_000
    /// How many contributors a decision names.
    public static let contributorsNamed = 5

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
    private var withheldAt: [String: Int64] = [:]
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

    /// One node's share of a device's count, as a decision names it.
    public struct Contribution: Sendable, Equatable, CustomStringConvertible {
        public var node: String
        public var count: UInt64
        public init(node: String, count: UInt64) {
            self.node = node
            self.count = count
        }
        public var description: String { "\(node): \(count)" }
    }

    /// Why a revocation that is due was not issued.
    public enum WithholdReason: String, Sendable, Equatable {
        /// No corroboration: the count rests on one other node's word (see the type's documentation).
        case uncorroborated
        /// `warnOnly` is set: a human decides.
        case warnOnly = "warn_only"
    }

    /// What the leader must do. Contributors are the nodes with the highest counts, highest first.
    public enum Action: Sendable, Equatable {
        case warn(serial: String, count: UInt64)
        case revoke(serial: String, count: UInt64, contributors: [Contribution])
        case withhold(serial: String, count: UInt64, reason: WithholdReason, contributors: [Contribution])
    }

    /// Why a peer's report was not taken.
    public enum Refusal: Sendable, Equatable {
        /// The report is about another node than the one whose certificate sent it.
        case notFromReporter
        /// The reporter is not a member of the cluster.
        case unknownReporter
        /// A report about us (only we make those).
        case aboutUs
        /// Empty or overlong node id or serial, too many entries, negative seq.
        case malformed
        /// Dated more than `maxFutureSkewMillis` ahead of our clock.
        case future
        /// Made more than a window ago.
        case expired
        /// We hold this version or a newer one, or two newer incarnations of the node.
        case notNewer
        /// `maxReporters` distinct nodes already report.
        case full
    }

    // MARK: Reports

    /// Installs our own current report (replaces the previous version of our incarnation).
    public mutating func setOwn(_ report: AbuseReport) {
        reports[report.key] = report
        trimIncarnations(of: report.node)
    }

    /// Why `r`, received from `reporter` (the id its verified certificate names), would not be taken; nil if it would.
    public func refusal(of r: AbuseReport, from reporter: String, reporterIsMember: Bool, nowMillis: Int64) -> Refusal? {
        guard !r.node.isEmpty, r.node.utf8.count <= Self.maxFieldLength, r.appliedSeq >= 0,
              r.counts.count <= Self.maxEntriesPerReport,
              r.counts.keys.allSatisfy({ !$0.isEmpty && $0.utf8.count <= Self.maxFieldLength }),
              (r.callers ?? [:]).allSatisfy({ r.counts[$0.key] != nil && $0.value.count <= CallerSamples.named
                                                 && $0.value.keys.allSatisfy { UInt32($0) != nil } }) else { return .malformed }
        guard r.node == reporter else { return .notFromReporter }
        guard r.node != me else { return .aboutUs }
        guard reporterIsMember else { return .unknownReporter }
        guard r.generatedAtMillis <= nowMillis + Self.maxFutureSkewMillis else { return .future }
        guard nowMillis - r.generatedAtMillis <= windowMillis else { return .expired }
        if let held = reports[r.key] { return r.version > held.version ? nil : .notNewer }
        let incarnations = reports.keys.filter { $0.node == r.node }
        if incarnations.isEmpty {
            return Set(reports.keys.map(\.node)).count >= Self.maxReporters ? .full : nil
        }
        if incarnations.count >= Self.maxIncarnationsPerNode, let oldest = incarnations.map(\.incarnation).min(),
           r.incarnation < oldest { return .notNewer }
        return nil
    }

    /// Takes the reports a peer sent about itself. `reporter` is the node id of the peer's verified certificate,
    /// `reporterIsMember` whether that id is a member of the cluster. Returns how many were taken and the refusals.
    @discardableResult
    public mutating func receive(_ incoming: [AbuseReport], from reporter: String, reporterIsMember: Bool,
                                 nowMillis: Int64) -> (taken: Int, refused: [Refusal]) {
        var taken = 0
        var refused: [Refusal] = []
        for r in incoming.prefix(Self.maxIncarnationsPerNode) {
            // The version we hold, sent again (a node re-sends its report every round): nothing to do.
            if reports[r.key] == r { continue }
            if let why = refusal(of: r, from: reporter, reporterIsMember: reporterIsMember, nowMillis: nowMillis) {
                refused.append(why)
                continue
            }
            reports[r.key] = r
            trimIncarnations(of: r.node)
            taken += 1
        }
        if incoming.count > Self.maxIncarnationsPerNode {
            refused.append(contentsOf: repeatElement(.malformed, count: incoming.count - Self.maxIncarnationsPerNode))
        }
        return (taken, refused)
    }

    /// Keeps only the newest `maxIncarnationsPerNode` incarnations of `node`.
    private mutating func trimIncarnations(of node: String) {
        let keys = reports.keys.filter { $0.node == node }.sorted { $0.incarnation > $1.incarnation }
        for k in keys.dropFirst(Self.maxIncarnationsPerNode) { reports[k] = nil }
    }

    /// Every report held, ordered by node and incarnation.
    public var allReports: [AbuseReport] {
        reports.keys.sorted().compactMap { reports[$0] }
    }

    // MARK: Reinstatement and expiry

    /// A device was reinstated by log entry `seq`: counts reported before it (by any node) no longer count,
    /// and it may be warned about and revoked again once its new count crosses the thresholds.
    public mutating func deviceReinstated(serial: String, seq: Int64, nowMillis: Int64) {
        resets[serial] = (max(seq, resets[serial]?.seq ?? 0), nowMillis)
        warnedAt[serial] = nil
        withheldAt[serial] = nil
        revocationIssuedAt[serial] = nil
    }

    /// Drops reports, reinstatement marks and decisions older than a window.
    public mutating func expire(nowMillis: Int64) {
        reports = reports.filter { nowMillis - $0.value.generatedAtMillis <= windowMillis }
        resets = resets.filter { nowMillis - $0.value.atMillis <= windowMillis }
        warnedAt = warnedAt.filter { nowMillis - $0.value <= windowMillis }
        withheldAt = withheldAt.filter { nowMillis - $0.value <= windowMillis }
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

    /// The part of a device's count that backs a revocation: our own counts in full, every other node's
    /// at most `perReporterCap`.
    public func corroboratedCount(_ t: DeviceTotal) -> UInt64 {
        let cap = thresholds.perReporterCap
        return t.byNode.reduce(0) { sum, e in sum + (e.key == me ? e.value : min(e.value, cap)) }
    }

    /// The nodes with the highest counts, highest first (ties by id), at most `contributorsNamed`.
    public static func contributors(_ t: DeviceTotal) -> [Contribution] {
        t.byNode.map { Contribution(node: $0.key, count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.node < $1.node }
            .prefix(contributorsNamed).map { $0 }
    }

    /// Whether the leader already warned about `serial` in this window.
    public func wasWarned(_ serial: String) -> Bool { warnedAt[serial] != nil }

    /// Expires old state, then (only when `isLeader`) returns the warnings, revocations and withheld revocations due.
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
            guard revoke else { continue }
            let withhold: WithholdReason? = thresholds.warnOnly ? .warnOnly
                : corroboratedCount(t) < UInt64(thresholds.revokePerWindow) ? .uncorroborated : nil
            if let withhold {
                if withheldAt[serial] == nil {
                    withheldAt[serial] = nowMillis
                    actions.append(.withhold(serial: serial, count: t.count, reason: withhold, contributors: Self.contributors(t)))
                }
                continue
            }
            if let at = revocationIssuedAt[serial], nowMillis - at < revokeRetryMillis { continue }
            revocationIssuedAt[serial] = nowMillis
            actions.append(.revoke(serial: serial, count: t.count, contributors: Self.contributors(t)))
        }
        return actions
    }
}
