/// When the cluster-wide 24 h count of a device is a warning and when it is revoked (0 disables).
public struct AbuseThresholds: Sendable, Equatable {
    /// Cluster-wide validations per window at which the leader logs a warning (0 = never).
    public var warnPerWindow: UInt32
    /// Cluster-wide validations per window at which the leader revokes the device (0 = never), provided the
    /// count is corroborated (see `AbuseLedger`); otherwise the revocation is withheld and only logged.
    public var revokePerWindow: UInt32
    /// A node reports a device to its peers once its own count reaches this (at least 1).
    public var reportFloor: UInt32
    /// Never revoke automatically: a revocation that would be due is only logged (a human decides). Default false.
    public var warnOnly: Bool

    public init(warnPerWindow: UInt32 = 8000, revokePerWindow: UInt32 = 10_000, reportFloor: UInt32 = 100, warnOnly: Bool = false) {
        self.warnPerWindow = warnPerWindow
        self.revokePerWindow = revokePerWindow
        self.reportFloor = max(1, reportFloor)
        self.warnOnly = warnOnly
    }

    /// Whether counting matters at all.
    public var enabled: Bool { warnPerWindow > 0 || revokePerWindow > 0 }

    /// The most one other node's report can add to the corroborated count: half the revocation threshold (rounded
    /// up), so no single reporter can reach it alone, and two nodes that each saw half of it can.
    public var perReporterCap: UInt64 { (UInt64(revokePerWindow) + 1) / 2 }
}
