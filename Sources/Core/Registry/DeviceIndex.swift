public import SMAErrors
/// The in-memory device index: NUC digest -> device and serial -> device (the raw NUC hash is never held).
///
/// Serials are keyed by `DeviceSerial`, byte-wise, as PostgreSQL compares them: two canonically equivalent
/// spellings (`CAF\u{C9}`, `CAFE\u{301}`) are two devices here exactly as they are two rows there.
///
/// A plain value type, not thread-safe; `Registry` puts it behind a lock.
public struct DeviceIndex: Sendable {
    @usableFromInline
    struct Entry: Sendable {
        var nucDigest: NUCDigest
        var serial: String
        var t0: UInt16, t1: UInt16, t2: UInt16
        var revoked: Bool

        @inline(__always)
        func holdsTable(_ table: Int) -> Bool {
            table == Int(t0) || table == Int(t1) || table == Int(t2)
        }
    }

    @usableFromInline var entries: [Entry] = []
    @usableFromInline var byNUC: [NUCDigest: Int32] = [:]
    @usableFromInline var bySerial: [DeviceSerial: Int32] = [:]
    /// Devices currently revoked.
    public private(set) var revokedCount = 0

    public init() {}

    /// Devices held.
    public var count: Int { entries.count }

    public mutating func reserveCapacity(_ n: Int) {
        entries.reserveCapacity(n)
        byNUC.reserveCapacity(n)
        bySerial.reserveCapacity(n)
    }

    /// Why an insert was refused.
    public struct InsertConflict: CodedError {
        public enum Code: String, Sendable, CustomStringConvertible {
            case duplicateSerial = "duplicate_serial"
            case duplicateNUCHash = "duplicate_nuc_hash"
            case invalidTables = "invalid_tables"
            public var description: String { rawValue }
        }
        public var code: Code
        public var file: String
        public var line: Int
        public init(_ code: Code, file: String = #fileID, line: Int = #line) {
            self.code = code
            self.file = file
            self.line = line
        }
        public var reason: String {
            switch code {
            case .duplicateSerial: "a device with this serial is already registered"
            case .duplicateNUCHash: "a device with this NUC hash is already registered"
            case .invalidTables: "not three distinct key table ids from 0 to 65535"
            }
        }
        public static let duplicateSerial = InsertConflict(.duplicateSerial)
        public static let duplicateNUCHash = InsertConflict(.duplicateNUCHash)
        public static let invalidTables = InsertConflict(.invalidTables)
    }

    /// Adds a device; refuses a duplicate serial or NUC hash, or a table list that is not 3 distinct ids in 0..<65536.
    public mutating func insert(_ device: RegisteredDevice) throws(InsertConflict) {
        let t = device.tableIDs
        guard t.count == BirthmarkProtocol.tablesPerDevice, t[0] != t[1], t[0] != t[2], t[1] != t[2],
              t.allSatisfy({ (0...Int(UInt16.max)).contains($0) }) else { throw InsertConflict(.invalidTables) }
        let serial = DeviceSerial(unchecked: device.serial)
        guard bySerial[serial] == nil else { throw InsertConflict(.duplicateSerial) }
        guard byNUC[device.nucDigest] == nil else { throw InsertConflict(.duplicateNUCHash) }
        let slot = Int32(entries.count)
        entries.append(Entry(nucDigest: device.nucDigest, serial: device.serial,
                             t0: UInt16(t[0]), t1: UInt16(t[1]), t2: UInt16(t[2]), revoked: device.revoked))
        byNUC[device.nucDigest] = slot
        bySerial[serial] = slot
        if device.revoked { revokedCount += 1 }
    }

    /// Marks a device revoked or not. Returns false when the serial is unknown.
    @discardableResult
    public mutating func setRevoked(serial: DeviceSerial, _ revoked: Bool) -> Bool {
        guard let slot = bySerial[serial] else { return false }
        let i = Int(slot)
        if entries[i].revoked != revoked {
            revokedCount += revoked ? 1 : -1
            entries[i].revoked = revoked
        }
        return true
    }

    /// The device with this serial.
    public func device(serial: DeviceSerial) -> RegisteredDevice? {
        bySerial[serial].map { device(at: Int($0)) }
    }

    /// The device with this NUC digest.
    public func device(nucDigest: NUCDigest) -> RegisteredDevice? {
        byNUC[nucDigest].map { device(at: Int($0)) }
    }

    private func device(at i: Int) -> RegisteredDevice {
        let e = entries[i]
        return RegisteredDevice(serial: e.serial, nucDigest: e.nucDigest,
                                tableIDs: [Int(e.t0), Int(e.t1), Int(e.t2)], revoked: e.revoked)
    }

    /// The validation decision for the digest of a decrypted NUC hash presented under `table` (no allocation).
    @inline(__always)
    public func decide(nucDigest: NUCDigest, table: Int) -> ValidationOutcome {
        guard let slot = byNUC[nucDigest] else { return .fail(.unknownDevice) }
        let e = entries[Int(slot)]
        guard e.holdsTable(table) else { return .fail(.tableNotAssigned) }
        guard !e.revoked else { return .fail(.revoked) }
        return .pass
    }

    /// How many of `serials` memory holds as revoked (each serial counted once; unknown serials are not counted).
    public func revokedCount(among serials: some Sequence<DeviceSerial>) -> Int {
        var seen = Set<Int32>()
        for s in serials { if let slot = bySerial[s], entries[Int(slot)].revoked { seen.insert(slot) } }
        return seen.count
    }

    /// Devices holding `table` (key-table compromise tooling). Linear scan.
    public func serials(holdingTable table: Int) -> [String] {
        entries.lazy.filter { $0.holdsTable(table) }.map(\.serial)
    }
}
