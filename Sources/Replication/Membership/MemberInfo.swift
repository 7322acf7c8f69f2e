/// What a node says about itself and what it knows of others.
///
/// Only the node itself produces new versions of its entry: it bumps `heartbeat` every gossip
/// round and `incarnation` when it restarts, so `(incarnation, heartbeat)` orders its versions.
/// Each version is signed by the node's peer key and carries the node's certificate, so whoever relays it,
/// a receiver can check that the node it names wrote it (see `MemberAuthenticator`); a leader claim in it is a
/// lease statement signed by a leader-eligible key.
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
    /// base64 of the DER peer certificate of the node, issued by the cluster CA: its CN is `id`, its OU `role`,
    /// and `peerURL`'s host is one of its addresses.
    public var certificate: String?
    /// base64 of the DER ECDSA P-256 signature of `signedBytes` by the certificate's key.
    public var signature: String?

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

    /// What the node signs: every field but the signature, length-prefixed, after a domain tag.
    public var signedBytes: [UInt8] {
        var out = Array("sma-member-v1".utf8)
        func put(_ s: String) {
            let b = Array(s.utf8)
            withUnsafeBytes(of: UInt32(b.count).bigEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: b)
        }
        func put(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) } }
        for field in [id, region, role, peerURL, publicURL, certificate ?? ""] { put(field) }
        for v in [heartbeat, UInt64(bitPattern: appliedSeq), UInt64(bitPattern: leaderEpoch), isLeader ? 1 : 0, incarnation] { put(v) }
        return out
    }

    /// Whether this version of the entry is newer than `other`: higher `(incarnation, heartbeat)`.
    func isNewer(than other: MemberInfo) -> Bool {
        (incarnation, heartbeat) > (other.incarnation, other.heartbeat)
    }
}
