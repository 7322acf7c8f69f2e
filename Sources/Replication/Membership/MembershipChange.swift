/// A member's status changed (for logging): `from` is nil when the member was first learned.
public struct MembershipChange: Sendable, Equatable {
    /// The member's node id.
    public var id: String
    /// Its previous status, or nil if it was not in the table.
    public var from: MemberStatus?
    /// Its new status.
    public var to: MemberStatus

    /// Creates a status change.
    public init(id: String, from: MemberStatus?, to: MemberStatus) {
        self.id = id
        self.from = from
        self.to = to
    }
}
