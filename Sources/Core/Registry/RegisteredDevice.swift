/// What the in-memory index keeps per device: just enough to validate.
///
/// Certificates and other details live in PostgreSQL; keeping them out of memory
/// holds 1,000,000 devices well under the memory budget.
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
