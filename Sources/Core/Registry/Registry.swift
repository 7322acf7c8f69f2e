/// The node's in-memory validation state: key tables + device index, safe to share.
///
/// Validation takes a read lock (many at once); applying a log entry takes the
/// write lock briefly. Loaded from PostgreSQL at start, then kept current by the log.
public final class Registry: Sendable {
    struct State: Sendable {
        var keys: KeyTables?
        /// HMAC of NUC hashes under the cluster digest key: the index holds digests, never hashes.
        var digester: NUCDigester?
        var index = DeviceIndex()
        /// Retired or retiring tables: table id -> the time (ms since 1970) from which its tokens FAIL.
        var retirements: [Int: Int64] = [:]
        /// The same, dense by table id for the validation path (`Int64.max` = no retirement); empty while none.
        var retireAt: [Int64] = []
    }

    let state = ReadWriteLocked(State())
    /// Wall clock in milliseconds since 1970; read only for a token of a table with a retirement.
    private let nowMillis: @Sendable () -> Int64
    /// Validations per device slot that identified the device (PASS, or FAIL as revoked/retired), for abuse detection;
    /// a replayed token (same device, same nonce) counts once (see `ValidationCounters`).
    let counters = ValidationCounters()
    /// Sampled API keys per device, for naming them in abuse revocations.
    public let callers = CallerSamples()
    /// Whether validations are counted (abuse detection on).
    public let countsValidations: Bool

    /// - Parameters:
    ///   - countValidations: count validations per device for abuse detection (one relaxed atomic add per identified device).
    ///   - nowMillis: the clock retirements are compared with (tests pass their own).
    public init(countValidations: Bool = true, nowMillis: @escaping @Sendable () -> Int64 = Registry.systemMillis) {
        countsValidations = countValidations
        self.nowMillis = nowMillis
    }

    /// Installs (or replaces) the key tables.
    public func installKeyTables(_ tables: KeyTables) {
        state.withWriteLock { $0.keys = tables }
    }

    /// Installs the cluster's NUC digest key (docs/ARCHITECTURE.md §3.2); validation needs it.
    public func installNUCDigestKey(_ key: Bytes32) {
        let digester = NUCDigester(key: key)
        state.withWriteLock { $0.digester = digester }
    }

    /// The digest of `nuc` under the cluster key, or nil before the key is installed.
    public func nucDigest(_ nuc: NUCHash) -> NUCDigest? {
        state.withReadLock { $0.digester?.digest(nuc) }
    }

    /// Replaces the whole device index (start-up load).
    public func replaceIndex(_ index: DeviceIndex) {
        state.withWriteLock { s in
            s.index = index
            if countsValidations { counters.reserve(slots: index.count) }
        }
    }

    /// Adds a device (a provisioning applied from the log).
    public func insert(_ device: RegisteredDevice) throws(DeviceIndex.InsertConflict) {
        let result: Result<Void, DeviceIndex.InsertConflict> = state.withWriteLock { s in
            Result { () throws(DeviceIndex.InsertConflict) in
                try s.index.insert(device)
                if countsValidations { counters.reserve(slots: s.index.count) }
            }
        }
        try result.get()
    }

    /// Revokes or reinstates; false if the serial is unknown.
    @discardableResult
    public func setRevoked(serial: DeviceSerial, _ revoked: Bool) -> Bool {
        state.withWriteLock { $0.index.setRevoked(serial: serial, revoked) }
    }

    /// Marks a table retired at once (tokens under it FAIL) or active again.
    public func setRetired(table: Int, _ retired: Bool) {
        setRetirement(table: table, effectiveMillis: retired ? Int64.min : nil)
    }

    /// Retires `table` from `effectiveMillis` on: it is never assigned again, and its tokens PASS until
    /// that time, then FAIL with `tableRetired`. nil makes the table active again.
    public func setRetirement(table: Int, effectiveMillis: Int64?) {
        state.withWriteLock { s in
            s.retirements[table] = effectiveMillis
            let size = (s.retirements.keys.max() ?? -1) + 1
            var dense = [Int64](repeating: .max, count: size)
            for (t, at) in s.retirements { dense[t] = at }
            s.retireAt = dense
        }
    }

    /// Tables with a retirement and the time it takes effect (ms since 1970).
    public var retirements: [Int: Int64] { state.withReadLock { $0.retirements } }

    /// The full docs/ARCHITECTURE.md §1 check of one token.
    /// `caller`: the API key id of the request (0: anonymous), sampled for abuse attribution (`CallerSamples`).
    public func validate(_ token: CameraToken, caller: UInt32 = 0) -> ValidationOutcome {
        state.withReadLock { s in
            guard let keys = s.keys, let digester = s.digester else { return .fail(.unknownTable) }
            let opened = keys.derived.withKey(table: token.tableID, index: token.keyIndex) {
                TokenCipher.open(token, key: $0)
            }
            switch opened {
            case nil:
                return .fail(.unknownTable)
            case .authenticationFailed?:
                return .fail(.authenticationFailed)
            case .opened(let nuc)?:
                return decide(nuc, token: token, digester: digester, in: s, caller: caller)
            }
        }
    }

    /// The legacy check (docs/ARCHITECTURE.md §1.3): the candidates in order, at most three AES-GCM opens under one
    /// read lock. The first candidate that opens decides, exactly as a structured validation of that candidate
    /// (device, table held, revocation, retirement, counting); when none opens: FAIL `authentication_failed`.
    public func validate(_ legacy: LegacyCameraToken, caller: UInt32 = 0) -> ValidationOutcome {
        state.withReadLock { s in
            guard let keys = s.keys, let digester = s.digester else { return .fail(.unknownTable) }
            for token in legacy.candidates {
                let opened = keys.derived.withKey(table: token.tableID, index: token.keyIndex) {
                    TokenCipher.open(token, key: $0)
                }
                if case .opened(let nuc)? = opened {
                    return decide(nuc, token: token, digester: digester, in: s, caller: caller)
                }
            }
            return .fail(.authenticationFailed)
        }
    }

    /// Steps 2-5 of the decision for a token that opened to `nuc`; runs under the caller's read lock.
    private func decide(_ nuc: NUCHash, token: CameraToken, digester: NUCDigester, in s: borrowing State,
                        caller: UInt32) -> ValidationOutcome {
        // The opened hash lives only here: the index is keyed by its digest.
        let (outcome, slot) = s.index.decideLocating(nucDigest: digester.digest(nuc), table: token.tableID)
        if countsValidations {
            switch outcome {
            case .pass, .fail(.revoked):
                let tag = ValidationCounters.tag(nonce: token.nonce)
                if counters.increment(slot: slot, tag: tag), caller != 0, CallerSamples.isSample(tag: tag) {
                    callers.record(slot: slot, caller: caller)
                }
            default: break
            }
        }
        // While no table has a retirement this is one comparison; the clock is read only for a table that has one.
        if outcome == .pass, token.tableID < s.retireAt.count, s.retireAt[token.tableID] != .max,
           nowMillis() >= s.retireAt[token.tableID] {
            return .fail(.tableRetired)
        }
        return outcome
    }

    /// Validates many tokens under one lock acquisition.
    public func validate(_ tokens: [CameraToken], caller: UInt32 = 0) -> [ValidationOutcome] {
        tokens.map { validate($0, caller: caller) }
    }

    /// The device with exactly these serial bytes (docs/ARCHITECTURE.md §1.4).
    public func device(serial: DeviceSerial) -> RegisteredDevice? {
        state.withReadLock { $0.index.device(serial: serial) }
    }

    public func device(nucDigest: NUCDigest) -> RegisteredDevice? {
        state.withReadLock { $0.index.device(nucDigest: nucDigest) }
    }

    /// The master key of `table` (for a provisioning file), or nil.
    public func masterKey(table: Int) -> Bytes32? {
        state.withReadLock { s in
            guard let keys = s.keys, table >= 0, table < keys.count else { return nil }
            return keys.masterKeys[table]
        }
    }

    /// Counts for `/stats` and readiness.
    public struct Counts: Sendable, Equatable {
        public var devices: Int
        public var revoked: Int
        public var keyTables: Int
        public var retiredTables: Int
    }

    public var counts: Counts {
        state.withReadLock { s in
            Counts(devices: s.index.count, revoked: s.index.revokedCount,
                   keyTables: s.keys?.count ?? 0, retiredTables: s.retirements.count)
        }
    }

    /// How far memory and the database disagree about devices (docs/ARCHITECTURE.md §4.1, `/stats`): the difference in
    /// device counts, plus the serials the database holds as revoked that memory does not, plus the devices memory
    /// holds as revoked that the database does not. 0 when they agree on existence counts and every revoked flag.
    /// - Parameters:
    ///   - databaseDevices: `count(*)` of the devices table.
    ///   - databaseRevoked: the serials of every revoked row, as stored.
    public func disagreements(databaseDevices: Int, databaseRevoked: [DeviceSerial]) -> Int {
        state.withReadLock { s in
            let both = s.index.revokedCount(among: databaseRevoked)
            return abs(s.index.count - databaseDevices) + (databaseRevoked.count - both) + (s.index.revokedCount - both)
        }
    }

    /// Number of installed key tables (the accepted `table_id` range), without building `counts`.
    public var keyTableCount: Int { state.withReadLock { $0.keys?.count ?? 0 } }

    /// Table ids that may be assigned to new devices.
    public var assignableTables: [Int] {
        state.withReadLock { s in
            guard let keys = s.keys else { return [] }
            return (0..<keys.count).filter { s.retirements[$0] == nil }
        }
    }

    public func serials(holdingTable table: Int) -> [String] {
        state.withReadLock { $0.index.serials(holdingTable: table) }
    }
}
