/// One node's heavy hitters, as gossiped to every other node: devices whose count over the
/// node's own sliding 24 h window reached the reporting floor.
///
/// Only the node itself produces new versions of its report; `(incarnation, version)` orders them
/// like the member table's `(incarnation, heartbeat)`. A restarted node (new incarnation) starts
/// new counts; its previous incarnation's last report stays in every ledger until it ages out, so
/// the validations it counted before the restart still count.
public struct AbuseReport: Codable, Sendable, Equatable {
    /// The reporting node's id.
    public var node: String
    /// The node's incarnation (its start time in ms).
    public var incarnation: UInt64
    /// Incremented by the node whenever the report's content changes.
    public var version: UInt64
    /// When the node made this version (its wall clock, ms since the epoch).
    public var generatedAtMillis: Int64
    /// The registration-log seq the node had applied when it made this version: counts of a device
    /// reinstated at a later seq are from before its reinstatement and are ignored.
    public var appliedSeq: Int64
    /// Device serial -> validations this node counted over its window (only counts >= the floor).
    public var counts: [String: UInt32]
    /// Device serial -> API key id (decimal) -> estimated validations by that key, for the reported devices
    /// (sampled: every `CallerSamples.every`-th counted validation of a device; top `CallerSamples.named` keys).
    /// Absent from nodes that predate it. Anonymous validations have no key and are not named.
    public var callers: [String: [String: UInt32]]?

    public init(node: String, incarnation: UInt64, version: UInt64, generatedAtMillis: Int64, appliedSeq: Int64, counts: [String: UInt32],
                callers: [String: [String: UInt32]]? = nil) {
        self.node = node
        self.incarnation = incarnation
        self.version = version
        self.generatedAtMillis = generatedAtMillis
        self.appliedSeq = appliedSeq
        self.counts = counts
        self.callers = callers
    }

    /// Identifies the stream of versions this report belongs to.
    public struct Key: Hashable, Sendable, Comparable {
        public var node: String
        public var incarnation: UInt64
        public init(node: String, incarnation: UInt64) {
            self.node = node
            self.incarnation = incarnation
        }
        public static func < (a: Key, b: Key) -> Bool { (a.node, a.incarnation) < (b.node, b.incarnation) }
    }

    public var key: Key { Key(node: node, incarnation: incarnation) }
}
