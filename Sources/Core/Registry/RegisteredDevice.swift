/// What the in-memory index keeps per device: just enough to validate.
///
/// Certificates and other details live in PostgreSQL; keeping them out of memory
/// holds 1,000,000 devices well under the memory budget.
public struct RegisteredDevice: Sendable, Equatable {
    public var serial: String
    public var nucHash: NUCHash
    /// The device's key tables (docs/ARCHITECTURE.md §1: 3 distinct table ids).
    public var tableIDs: [Int]
    public var revoked: Bool

    public init(serial: String, nucHash: NUCHash, tableIDs: [Int], revoked: Bool = false) {
        self.serial = serial
        self.nucHash = nucHash
        self.tableIDs = tableIDs
        self.revoked = revoked
    }
}
