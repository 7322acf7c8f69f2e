import Testing
@testable import Core

/// The serial alphabet and byte-wise identity (docs/ARCHITECTURE.md §1.4).
@Suite struct DeviceSerialTests {
    static let nfc = "CAF\u{C9}"          // É precomposed
    static let nfd = "CAFE\u{301}"        // E + combining acute: canonically equivalent, other bytes

    @Test(arguments: [
        "CAM-0001", "a", "CAM 0001/ä", nfc, "カメラ-7", "Kamera_Nr.42", "x\u{1F4F7}",
        String(repeating: "A", count: 64), String(repeating: "\u{E9}", count: 32),
    ])
    func serialInTheAlphabetIsAcceptedAsSent(_ raw: String) throws {
        let serial = try DeviceSerial(raw)
        #expect(Array(serial.string.utf8) == Array(raw.utf8))
    }

    @Test(arguments: [
        ("", "must be 1 to 64 bytes of UTF-8"),
        (String(repeating: "A", count: 65), "must be 1 to 64 bytes of UTF-8"),
        (String(repeating: "\u{E9}", count: 33), "must be 1 to 64 bytes of UTF-8"),   // 33 characters, 66 bytes
        ("e" + String(repeating: "\u{301}", count: 700), "must be 1 to 64 bytes of UTF-8"),   // one grapheme, 1,401 bytes
        ("CAM\u{200B}1", "must not contain invisible format characters (zero-width, bidi controls, byte order mark)"),
        ("CAM\u{202E}1", "must not contain invisible format characters (zero-width, bidi controls, byte order mark)"),
        ("\u{FEFF}CAM1", "must not contain invisible format characters (zero-width, bidi controls, byte order mark)"),
        ("CAM\u{2060}1", "must not contain invisible format characters (zero-width, bidi controls, byte order mark)"),
        (" ", "must not start or end with a space"),
        (" CAM1", "must not start or end with a space"),
        ("CAM1 ", "must not start or end with a space"),
        ("CAM\t1", "must not contain control characters or line breaks"),
        ("CAM\n1", "must not contain control characters or line breaks"),
        ("CAM\u{85}1", "must not contain control characters or line breaks"),
        ("CAM\u{2028}1", "must not contain control characters or line breaks"),
        ("CAM\u{0}1", "must not contain NUL characters"),
        ("CAM\u{A0}1", "must not contain whitespace other than the space (U+0020)"),
        ("CAM\u{3000}1", "must not contain whitespace other than the space (U+0020)"),
        ("CAM\u{E000}1", "must not contain unassigned or private-use characters"),
        ("\u{301}CAM1", "must not start with a combining mark"),
        (nfd, "must be in Unicode normalization form NFC (precomposed characters)"),
        ("\u{212B}", "must be in Unicode normalization form NFC (precomposed characters)"),   // ANGSTROM SIGN -> Å
    ])
    func serialOutsideTheAlphabetIsRefusedNamingTheField(_ raw: String, _ problem: String) {
        #expect(throws: InputError(field: "device_serial", problem)) { try DeviceSerial(raw) }
        do {
            _ = try DeviceSerial(raw, field: "devices[3].device_serial")
            Issue.record("accepted \(raw.unicodeScalars.map { String($0.value, radix: 16) })")
        } catch {
            #expect(error.field == "devices[3].device_serial")
            #expect(error.problem == problem)
            #expect("\(error)" == "devices[3].device_serial: \(problem)")
        }
    }

    @Test func byteLimitIsSixtyFourBytesNotCharacters() throws {
        let fourByte = String(repeating: "\u{1F4F7}", count: 16)   // 16 characters, 64 bytes
        #expect(fourByte.utf8.count == 64)
        _ = try DeviceSerial(fourByte)
        #expect(throws: InputError.self) { try DeviceSerial(fourByte + "a") }
    }

    @Test func canonicallyEquivalentSpellingsAreDifferentSerials() {
        #expect(Self.nfc == Self.nfd)   // what String says
        let a = DeviceSerial(unchecked: Self.nfc), b = DeviceSerial(unchecked: Self.nfd)
        #expect(a != b)
        #expect(Set([a, b]).count == 2)
        #expect(a == DeviceSerial(unchecked: "CAF" + "\u{C9}"))
        #expect([a: 1][b] == nil)
    }

    @Test func familyFollowsTheSameAlphabet() throws {
        try DeviceText.check("Raspberry Pi", field: "device_family")
        #expect(throws: InputError(field: "device_family", "must be 1 to 64 bytes of UTF-8")) {
            try DeviceText.check(String(repeating: "F", count: 65), field: "device_family")
        }
        #expect(throws: InputError(field: "device_family", "must not contain invisible format characters (zero-width, bidi controls, byte order mark)")) {
            try DeviceText.check("Pi\u{200D}", field: "device_family")
        }
    }

    @Test func indexKeysSerialsByTheirBytes() throws {
        var index = DeviceIndex()
        try index.insert(RegisteredDevice(serial: Self.nfc, nucHash: NUCHash(bytes: [UInt8](repeating: 1, count: 32))!, tableIDs: [1, 2, 3]))
        try index.insert(RegisteredDevice(serial: Self.nfd, nucHash: NUCHash(bytes: [UInt8](repeating: 2, count: 32))!, tableIDs: [1, 2, 3]))
        #expect(index.count == 2)
        let revoked = index.setRevoked(serial: DeviceSerial(unchecked: Self.nfd), true)
        #expect(revoked)
        #expect(index.device(serial: DeviceSerial(unchecked: Self.nfc))?.revoked == false)
        #expect(index.device(serial: DeviceSerial(unchecked: Self.nfd))?.revoked == true)
        let unknown = index.setRevoked(serial: DeviceSerial(unchecked: "CAFE"), true)
        #expect(!unknown)
    }

    @Test func disagreementsCountDeviceCountAndRevokedFlags() throws {
        let r = Registry()
        try r.insert(RegisteredDevice(serial: Self.nfc, nucHash: NUCHash(bytes: [UInt8](repeating: 1, count: 32))!, tableIDs: [1, 2, 3]))
        try r.insert(RegisteredDevice(serial: "B", nucHash: NUCHash(bytes: [UInt8](repeating: 2, count: 32))!, tableIDs: [1, 2, 3], revoked: true))
        #expect(r.disagreements(databaseDevices: 2, databaseRevoked: [DeviceSerial(unchecked: "B")]) == 0)
        // The database revoked the other spelling: memory's flag and the database's differ on two serials.
        #expect(r.disagreements(databaseDevices: 2, databaseRevoked: [DeviceSerial(unchecked: "B"), DeviceSerial(unchecked: Self.nfd)]) == 1)
        #expect(r.disagreements(databaseDevices: 2, databaseRevoked: []) == 1)
        #expect(r.disagreements(databaseDevices: 3, databaseRevoked: [DeviceSerial(unchecked: "B")]) == 1)
    }
}
