/// One row of the member table: the latest info we hold for a node and our judgement of it.
public struct Member: Sendable, Equatable {
    /// The newest version of the node's self-description we have seen.
    public var info: MemberInfo
    /// Alive, suspect or dead, by the age of `lastAdvanced`.
    public var status: MemberStatus
    /// When we last saw the node's `(incarnation, heartbeat)` advance (our clock, not theirs).
    public var lastAdvanced: ContinuousClock.Instant

    /// Creates a member-table row.
    public init(info: MemberInfo, status: MemberStatus, lastAdvanced: ContinuousClock.Instant) {
        self.info = info
        self.status = status
        self.lastAdvanced = lastAdvanced
    }
}
