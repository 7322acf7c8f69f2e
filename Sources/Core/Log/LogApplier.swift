/// A store of the node's state that log changes are applied to: memory (`NodeState`) and PostgreSQL (`SQLLogApplier`).
///
/// `LogChange.apply(to:at:)` is the only switch over change kinds; a new kind adds a requirement here, so the
/// compiler names every applier that must handle it. Appliers are handed changes strictly in seq order.
public protocol LogApplier {
    func apply(_ change: LogChange.KeyTablesCreated, at entry: LogEntry) throws
    func apply(_ change: LogChange.AuthorityInstalled, at entry: LogEntry) throws
    func apply(_ change: LogChange.DeviceProvisioned, at entry: LogEntry) throws
    func apply(_ change: LogChange.DeviceRevoked, at entry: LogEntry) throws
    func apply(_ change: LogChange.DeviceReinstated, at entry: LogEntry) throws
    func apply(_ change: LogChange.APIKeyCreated, at entry: LogEntry) throws
    func apply(_ change: LogChange.APIKeyRevoked, at entry: LogEntry) throws
    func apply(_ change: LogChange.KeyTableRetired, at entry: LogEntry) throws
    func apply(_ change: LogChange.CRLIssued, at entry: LogEntry) throws
    func apply(_ change: LogChange.NodeRevoked, at entry: LogEntry) throws
}
