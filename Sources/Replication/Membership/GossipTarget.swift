/// Whom to gossip with in a round: a known member, or a seed URL when we know nobody yet.
public enum GossipTarget: Sendable, Equatable {
    /// A member from the table; contact it at `info.peerURL`.
    case member(MemberInfo)
    /// A configured seed's peer URL (`https://host:port`).
    case seed(String)

    /// The peer URL to send the gossip request to.
    public var url: String {
        switch self {
        case .member(let info): info.peerURL
        case .seed(let url): url
        }
    }
}
