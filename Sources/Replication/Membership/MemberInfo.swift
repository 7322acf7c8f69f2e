/// What a node says about itself and what it knows of others.
///
/// Only the node itself produces new versions of its entry: it bumps `heartbeat` every gossip
/// round and `incarnation` when it restarts, so `(incarnation, heartbeat)` orders its versions.
public struct MemberInfo: Sendable, Codable, Equatable {
    /// Node id, e.g. "r1-n1".
    public var id: String
    /// Region the node runs in, e.g. "r1".
    public var region: String
    /// `MemberInfo.leaderEligibleRole` or `MemberInfo.followerRole`.
    public var role: String
    /// `https://host:port` of the node's mutual-TLS peer listener.
    public var peerURL: String
    /// `http://host:port` of the node's public API.
    public var publicURL: String
    /// Incremented by the node itself every gossip round; nobody else increments it.
    public var heartbeat: UInt64
    /// Highest registration-log seq the node has applied.
    public var appliedSeq: Int64
    /// Lease epoch the node holds (0 when not leader).
    public var leaderEpoch: Int64
    /// True while the node believes it holds the lease.
    public var isLeader: Bool
    /// Bumped by the node when it restarts (its start time in ms works), so its restarted, lower heartbeat is not ignored.
    public var incarnation: UInt64

    /// The role of a node that may take the leader lease.
    public static let leaderEligibleRole = "leader-eligible"
    /// The role of a node that only follows the log.
    public static let followerRole = "follower"

    /// Creates a member description; counters default to zero and `isLeader` to false.
    public init(
        id: String,
        region: String,
        role: String,
        peerURL: String,
        publicURL: String,
        heartbeat: UInt64 = 0,
        appliedSeq: Int64 = 0,
        leaderEpoch: Int64 = 0,
        isLeader: Bool = false,
        incarnation: UInt64 = 0
    ) {
        self.id = id
        self.region = region
        self.role = role
        self.peerURL = peerURL
        self.publicURL = publicURL
        self.heartbeat = heartbeat
        self.appliedSeq = appliedSeq
        self.leaderEpoch = leaderEpoch
        self.isLeader = isLeader
        self.incarnation = incarnation
    }

    /// Whether this version of the entry is newer than `other`: higher `(incarnation, heartbeat)`.
    func isNewer(than other: MemberInfo) -> Bool {
        (incarnation, heartbeat) > (other.incarnation, other.heartbeat)
    }
}
