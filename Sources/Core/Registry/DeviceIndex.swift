public import SMAErrors
/// The in-memory device index: NUC digest -> device and serial -> device (the raw NUC hash is never held).
///
/// Serials are keyed by `DeviceSerial`, byte-wise, as PostgreSQL compares them: two canonically equivalent
/// spellings (`CAF\u{C9}`, `CAFE\u{301}`) are two devices here exactly as they are two rows there.
///
/// Storage is flat, so that 10,000,000 devices load in linear time and about 100 bytes each: one 48-byte record per
/// device in one array, every serial's UTF-8 back to back in one byte array, and two open-addressing tables of 8-byte
/// buckets (`SlotTable`) that point into the records. No per-device object or `String` is allocated.
///
/// A plain value type, not thread-safe; `Registry` puts it behind a lock.
public struct DeviceIndex: Sendable {
    @usableFromInline
    struct Entry: Sendable {
        var nucDigest: NUCDigest
        /// The serial's UTF-8 bytes: `serialBytes[serialStart ..< serialStart + serialLength]`.
        var serialStart: UInt32
        var serialLength: UInt32
        var t0: UInt16, t1: UInt16, t2: UInt16
        var revoked: Bool

        @inline(__always)
        func holdsTable(_ table: Int) -> Bool {
            table == Int(t0) || table == Int(t1) || table == Int(t2)
        }
    }

    @usableFromInline var entries: [Entry] = []
    /// Every serial's UTF-8, in slot order.
    @usableFromInline var serialBytes: [UInt8] = []
    @usableFromInline var byNUC = SlotTable()
    @usableFromInline var bySerial = SlotTable()
    /// Devices currently revoked.
    public private(set) var revokedCount = 0

    public init() {}

    /// Devices held.
    public var count: Int { entries.count }

    /// Makes room for `n` devices (serials of up to 16 bytes) so that loading them never grows a table, plus 1/16 for
    /// the provisionings after start: the first of them does not copy the whole index (480 MB at 10 M devices).
    public mutating func reserveCapacity(_ n: Int) {
        let n = n + n / 16
        entries.reserveCapacity(n)
        serialBytes.reserveCapacity(n * 16)
        let entries = entries, serialBytes = serialBytes
        byNUC.reserveCapacity(n) { Self.hash(entries[$0].nucDigest) }
        bySerial.reserveCapacity(n) { Self.serialHash(entries[$0], in: serialBytes) }
    }

    /// The hash of a NUC digest: its first word. A digest is an HMAC output under a key no client knows, so it is
    /// already uniform and cannot be steered into collisions; running `Hasher` would be a measurable part of a
    /// validation.
    @inline(__always)
    static func hash(_ digest: NUCDigest) -> UInt64 { digest.value.w0 }

    /// The hash of a serial's bytes (`Hasher`: seeded per process, so provisioned serials cannot be chosen to collide).
    static func hash(serial bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    private static func serialHash(_ e: Entry, in serialBytes: [UInt8]) -> UInt64 {
        serialBytes.withUnsafeBytes { hash(serial: UnsafeRawBufferPointer(rebasing: $0[Int(e.serialStart)..<Int(e.serialStart + e.serialLength)])) }
    }

    /// The slot of the device whose serial is exactly `bytes`.
    private func slot(serialBytes bytes: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        serialBytes.withUnsafeBytes { all in
            bySerial.find(hash: hash) { slot in
                let e = entries[slot]
                guard Int(e.serialLength) == bytes.count else { return false }
                return UnsafeRawBufferPointer(rebasing: all[Int(e.serialStart)..<Int(e.serialStart) + bytes.count]).elementsEqual(bytes)
            }
        }
    }

    @inline(__always)
    func slot(nucDigest: NUCDigest) -> Int? {
        byNUC.find(hash: Self.hash(nucDigest)) { entries[$0].nucDigest == nucDigest }
    }

    func slot(serialOf serial: DeviceSerial) -> Int? {
        var s = serial.string
        return s.withUTF8 { u in
            let bytes = UnsafeRawBufferPointer(u)
            return slot(serialBytes: bytes, hash: Self.hash(serial: bytes))
        }
    }

    func serialString(_ e: Entry) -> String {
        serialBytes.withUnsafeBufferPointer {
            String(decoding: UnsafeBufferPointer(rebasing: $0[Int(e.serialStart)..<Int(e.serialStart + e.serialLength)]), as: UTF8.self)
        }
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
        guard t.count == BirthmarkProtocol.tablesPerDevice else { throw InsertConflict(.invalidTables) }
        var serial = device.serial
        let conflict = serial.withUTF8 { u in
            insert(serialUTF8: UnsafeRawBufferPointer(u), nucDigest: device.nucDigest, tables: (t[0], t[1], t[2]), revoked: device.revoked)
        }
        if let conflict { throw conflict }
    }

    /// Adds a device from its serial's UTF-8 bytes (start-up load: no `String` or `RegisteredDevice` is built).
    /// Refuses exactly what `insert(_:)` refuses.
    public mutating func insert(serialUTF8 bytes: some Collection<UInt8>, nucDigest: NUCDigest, tables: (Int, Int, Int),
                                revoked: Bool) throws(InsertConflict) {
        let conflict = bytes.withContiguousStorageIfAvailable {
            insert(serialUTF8: UnsafeRawBufferPointer($0), nucDigest: nucDigest, tables: tables, revoked: revoked)
        } ?? Array(bytes).withUnsafeBytes {
            insert(serialUTF8: $0, nucDigest: nucDigest, tables: tables, revoked: revoked)
        }
        if let conflict { throw conflict }
    }

    /// The insert itself; returns the conflict instead of throwing (it runs inside `withUTF8` closures).
    private mutating func insert(serialUTF8 bytes: UnsafeRawBufferPointer, nucDigest: NUCDigest, tables t: (Int, Int, Int),
                                 revoked: Bool) -> InsertConflict? {
        let valid = 0...Int(UInt16.max)
        guard t.0 != t.1, t.0 != t.2, t.1 != t.2, valid.contains(t.0), valid.contains(t.1), valid.contains(t.2) else {
            return InsertConflict(.invalidTables)
        }
        let serialHash = Self.hash(serial: bytes)
        guard slot(serialBytes: bytes, hash: serialHash) == nil else { return InsertConflict(.duplicateSerial) }
        guard slot(nucDigest: nucDigest) == nil else { return InsertConflict(.duplicateNUCHash) }
        precondition(serialBytes.count + bytes.count <= Int(UInt32.max), "device index: more than 4 GiB of serials")
        let slot = entries.count
        let start = UInt32(serialBytes.count)
        serialBytes.append(contentsOf: bytes)
        entries.append(Entry(nucDigest: nucDigest, serialStart: start, serialLength: UInt32(bytes.count),
                             t0: UInt16(t.0), t1: UInt16(t.1), t2: UInt16(t.2), revoked: revoked))
        let entries = entries, serials = serialBytes
        byNUC.insert(hash: Self.hash(nucDigest), slot: slot) { Self.hash(entries[$0].nucDigest) }
        bySerial.insert(hash: serialHash, slot: slot) { Self.serialHash(entries[$0], in: serials) }
        if revoked { revokedCount += 1 }
        return nil
    }

    /// Marks a device revoked or not. Returns false when the serial is unknown.
    @discardableResult
    public mutating func setRevoked(serial: DeviceSerial, _ revoked: Bool) -> Bool {
        guard let i = slot(serialOf: serial) else { return false }
        if entries[i].revoked != revoked {
            revokedCount += revoked ? 1 : -1
            entries[i].revoked = revoked
        }
        return true
    }

    /// The device with this serial.
    public func device(serial: DeviceSerial) -> RegisteredDevice? {
        slot(serialOf: serial).map { device(at: $0) }
    }

    /// The device with this NUC digest.
    public func device(nucDigest: NUCDigest) -> RegisteredDevice? {
        slot(nucDigest: nucDigest).map { device(at: $0) }
    }

    private func device(at i: Int) -> RegisteredDevice {
        let e = entries[i]
        return RegisteredDevice(serial: serialString(e), nucDigest: e.nucDigest,
                                tableIDs: [Int(e.t0), Int(e.t1), Int(e.t2)], revoked: e.revoked)
    }

    /// The validation decision for the digest of a decrypted NUC hash presented under `table` (no allocation).
    @inline(__always)
    public func decide(nucDigest: NUCDigest, table: Int) -> ValidationOutcome {
        guard let slot = slot(nucDigest: nucDigest) else { return .fail(.unknownDevice) }
        let e = entries[slot]
        guard e.holdsTable(table) else { return .fail(.tableNotAssigned) }
        guard !e.revoked else { return .fail(.revoked) }
        return .pass
    }

    /// How many of `serials` memory holds as revoked (each serial counted once; unknown serials are not counted).
    public func revokedCount(among serials: some Sequence<DeviceSerial>) -> Int {
        var seen = Set<Int>()
        for s in serials { if let slot = slot(serialOf: s), entries[slot].revoked { seen.insert(slot) } }
        return seen.count
    }

    /// Devices holding `table` (key-table compromise tooling). Linear scan.
    public func serials(holdingTable table: Int) -> [String] {
        entries.lazy.filter { $0.holdsTable(table) }.map(serialString)
    }
}
