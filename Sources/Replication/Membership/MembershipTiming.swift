/// Timing: when a member whose heartbeat stops advancing becomes suspect, then dead.
///
/// Members dead for longer than `10 × deadAfter` are dropped from the table.
public struct MembershipTiming: Sendable {
    /// How often a node starts a gossip round (and bumps its heartbeat).
    public var gossipInterval: Duration
    /// A member whose heartbeat has not advanced for this long is suspect.
    public var suspectAfter: Duration
    /// A member whose heartbeat has not advanced for this long is dead.
    public var deadAfter: Duration
    /// How many peers a round gossips with, and how many peers new log entries are pushed to (at least 1 is used).
    public var fanout: Int

    /// Creates a timing configuration.
    public init(gossipInterval: Duration, suspectAfter: Duration, deadAfter: Duration, fanout: Int) {
        self.gossipInterval = gossipInterval
        self.suspectAfter = suspectAfter
        self.deadAfter = deadAfter
        self.fanout = fanout
    }

    /// One machine (tests, local clusters): gossip every 200 ms, suspect after 1.5 s, dead after 5 s, fanout 3.
    public static let lan = MembershipTiming(
        gossipInterval: .milliseconds(200),
        suspectAfter: .milliseconds(1500),
        deadAfter: .seconds(5),
        fanout: 3
    )

    /// Real regions: gossip every 1 s, suspect after 6 s, dead after 30 s, fanout 3.
    public static let wan = MembershipTiming(
        gossipInterval: .seconds(1),
        suspectAfter: .seconds(6),
        deadAfter: .seconds(30),
        fanout: 3
    )
}
