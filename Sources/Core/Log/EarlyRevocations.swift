/// Revocations that memory applied ahead of their turn, and what each must hold until memory reaches it in seq order.
///
/// A verified revocation (`device_revoked`, `key_table_retired`, `api_key_revoked`, `node_revoked`) takes effect in
/// memory as soon as it arrives: ahead of a gap, and before the database has it (docs/ARCHITECTURE.md §2.7). Until
/// memory applies it in order, an earlier entry must not undo it: a `device_reinstated` with a lower seq leaves the
/// device revoked, a `device_provisioned` with a lower seq inserts it revoked, a `key_tables_created` with a lower seq
/// leaves the table retired, an `api_key_created` with a lower seq adds the key revoked. Once memory has applied the
/// revocation's own seq the hold is released, so a later reinstatement clears it as usual. Node revocations are never
/// undone, so they need no hold.
///
/// A pure state machine: the memory applier asks it and applies what it answers.
public struct EarlyRevocations: Sendable, Equatable {
    /// A table retirement held ahead of its turn.
    public struct TableHold: Sendable, Equatable {
        public var seq: Int64
        public var effectiveMillis: Int64
        /// Memory's retirement of the table currently comes from this hold, not from an entry applied in order
        /// (so an in-order retirement with a lower seq replaces it: the first retirement in seq order stands).
        public var provisional: Bool
    }

    /// An API-key revocation held ahead of its turn.
    public struct APIKeyHold: Sendable, Equatable {
        public var seq: Int64
        public var effectiveMillis: Int64?
    }

    /// Device serial → the highest seq of a revocation applied early.
    private var devices: [DeviceSerial: Int64] = [:]
    private var tables: [Int: TableHold] = [:]
    private var apiKeys: [Int64: APIKeyHold] = [:]

    public init() {}

    /// Holds not yet released (devices, tables and API keys).
    public var count: Int { devices.count + tables.count + apiKeys.count }

    // MARK: Recording early revocations

    /// A `device_revoked` at `seq` arrives while memory has applied only up to `applied`.
    /// - Returns: whether it is ahead of memory (then the caller marks the device revoked now, if memory has it).
    public mutating func deviceRevoked(_ serial: DeviceSerial, at seq: Int64, applied: Int64) -> Bool {
        guard seq > applied else { return false }
        devices[serial] = max(devices[serial] ?? seq, seq)
        return true
    }

    /// A `key_table_retired` at `seq` arrives while memory has applied only up to `applied`.
    /// - Parameter memoryHasRetirement: whether memory already holds a retirement of the table.
    /// - Returns: the retirement to set in memory now, or nil (not ahead, or memory already has one, which stands).
    public mutating func tableRetired(_ id: Int, effectiveMillis: Int64, at seq: Int64, applied: Int64,
                                      memoryHasRetirement: Bool) -> Int64? {
        guard seq > applied else { return nil }
        if let held = tables[id] {
            // The lowest-seq early retirement is the one the log will keep (the first one stands).
            if seq < held.seq {
                tables[id] = TableHold(seq: seq, effectiveMillis: effectiveMillis, provisional: held.provisional)
                return held.provisional ? effectiveMillis : nil
            }
            return nil
        }
        tables[id] = TableHold(seq: seq, effectiveMillis: effectiveMillis, provisional: !memoryHasRetirement)
        return memoryHasRetirement ? nil : effectiveMillis
    }

    /// An `api_key_revoked` at `seq` arrives while memory has applied only up to `applied`.
    /// - Returns: whether it is ahead of memory (then the caller revokes the key now, if memory has it).
    public mutating func apiKeyRevoked(_ id: Int64, effectiveMillis: Int64?, at seq: Int64, applied: Int64) -> Bool {
        guard seq > applied else { return false }
        if let held = apiKeys[id], held.seq >= seq { return true }
        apiKeys[id] = APIKeyHold(seq: seq, effectiveMillis: effectiveMillis)
        return true
    }

    /// A `node_revoked` at `seq`: applied at once when ahead of memory; nothing can undo it, so nothing is held.
    public func nodeRevoked(at seq: Int64, applied: Int64) -> Bool { seq > applied }

    // MARK: Questions asked while applying in order

    /// Whether device `serial` must stay (or become) revoked after the entry at `seq` is applied in order:
    /// a revocation with a higher seq was applied early.
    public func holdsDeviceRevoked(_ serial: DeviceSerial, after seq: Int64) -> Bool {
        (devices[serial] ?? .min) > seq
    }

    /// The early retirement of table `id` that must stand after the entry at `seq` is applied in order, if any.
    public func tableHold(_ id: Int, after seq: Int64) -> TableHold? {
        guard let held = tables[id], held.seq > seq else { return nil }
        return held
    }

    /// The early revocation of API key `id` that must stand after the entry at `seq` is applied in order, if any.
    public func apiKeyHold(_ id: Int64, after seq: Int64) -> APIKeyHold? {
        guard let held = apiKeys[id], held.seq > seq else { return nil }
        return held
    }

    /// Memory's retirement of table `id` now comes from an entry applied in order (or again from the hold).
    public mutating func setTableProvisional(_ id: Int, _ provisional: Bool) {
        tables[id]?.provisional = provisional
    }

    // MARK: Release

    /// Memory has applied every entry up to `applied` in order: holds at or below it are released.
    public mutating func release(through applied: Int64) {
        if !devices.isEmpty { devices = devices.filter { $0.value > applied } }
        if !tables.isEmpty { tables = tables.filter { $0.value.seq > applied } }
        if !apiKeys.isEmpty { apiKeys = apiKeys.filter { $0.value.seq > applied } }
    }
}
