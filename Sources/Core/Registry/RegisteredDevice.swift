/// What the in-memory index knows of a device: just enough to validate (it stores it as a flat record,
/// `DeviceIndex.Entry`, and builds this value on lookup).
///
/// Certificates and other details live in PostgreSQL; keeping them out of memory
/// holds 10,000,000 devices well under the memory budget.
public struct RegisteredDevice: Sendable, Equatable {
    public var serial: String
    /// HMAC-SHA256 of the NUC hash under the cluster digest key (docs/ARCHITECTURE.md §3.2).
    public var nucDigest: NUCDigest
    /// The device's key tables (docs/ARCHITECTURE.md §1: 3 distinct table ids).
    public var tableIDs: [Int]
    public var revoked: Bool

    public init(serial: String, nucDigest: NUCDigest, tableIDs: [Int], revoked: Bool = false) {
        self.serial = serial
        self.nucDigest = nucDigest
        self.tableIDs = tableIDs
        self.revoked = revoked
    }
}
