/// When the cluster-wide 24 h count of a device is a warning and when it is revoked (0 disables).
public struct AbuseThresholds: Sendable, Equatable {
    /// Cluster-wide validations per window at which the leader logs a warning (0 = never).
    public var warnPerWindow: UInt32
    /// Cluster-wide validations per window at which the leader revokes the device (0 = never).
    public var revokePerWindow: UInt32
    /// A node reports a device to its peers once its own count reaches this (at least 1).
    public var reportFloor: UInt32

    public init(warnPerWindow: UInt32 = 8000, revokePerWindow: UInt32 = 10_000, reportFloor: UInt32 = 100) {
        self.warnPerWindow = warnPerWindow
        self.revokePerWindow = revokePerWindow
        self.reportFloor = max(1, reportFloor)
    }

    /// Whether counting matters at all.
    public var enabled: Bool { warnPerWindow > 0 || revokePerWindow > 0 }
}
