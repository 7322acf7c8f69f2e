public import Core

/// `GET /peer/v1/status` answer: what one node tells a peer's status page about itself.
public struct PeerStatus: Codable, Sendable, Equatable {
    public var node_id: String
    public var applied_seq: Int64
    /// Entries known to exist but not applied on that node.
    public var lag_entries: Int64
    /// How long that node has been behind (0 when caught up).
    public var lag_seconds: Double
    /// Its own per-10-second PASS/FAIL counts, oldest first.
    public var validations: [ValidationSeries.Bucket]

    public init(node_id: String, applied_seq: Int64, lag_entries: Int64, lag_seconds: Double, validations: [ValidationSeries.Bucket]) {
        self.node_id = node_id
        self.applied_seq = applied_seq
        self.lag_entries = lag_entries
        self.lag_seconds = lag_seconds
        self.validations = validations
    }
}
