/// How a node judges another by how recently its heartbeat advanced.
public enum MemberStatus: String, Sendable, Codable {
    /// Its heartbeat advanced within `MembershipTiming.suspectAfter`.
    case alive
    /// Its heartbeat has not advanced for `suspectAfter`, but for less than `deadAfter`.
    case suspect
    /// Its heartbeat has not advanced for `deadAfter` or longer.
    case dead
}
