import Testing
@testable import Core

@Suite struct DeviceIndexTests {
    static func digest(_ i: Int) -> NUCDigest {
        // Distinct, deterministic digests whose first word is spread (the index hashes by it).
        let w = UInt64(truncatingIfNeeded: i) &* 0x9E37_79B9_7F4A_7C15
        let bytes = (0..<4).flatMap { k in withUnsafeBytes(of: (w &+ UInt64(k) &* 0xBF58_476D_1CE4_E5B9).littleEndian) { Array($0) } }
        return NUCDigest(bytes: bytes)!
    }

    @Test func growsWithoutReservationAndFindsEveryDevice() throws {
        var index = DeviceIndex()
        let n = 20_000
        for i in 0..<n {
            try index.insert(RegisteredDevice(serial: "CAM-\(i)", nucDigest: Self.digest(i),
                                              tableIDs: [i % 7, 7 + i % 5, 12 + i % 3], revoked: i % 100 == 0))
        }
        #expect(index.count == n)
        #expect(index.revokedCount == n / 100)
        for i in stride(from: 0, to: n, by: 97) {
            let d = index.device(serial: DeviceSerial(unchecked: "CAM-\(i)"))
            #expect(d == RegisteredDevice(serial: "CAM-\(i)", nucDigest: Self.digest(i),
                                          tableIDs: [i % 7, 7 + i % 5, 12 + i % 3], revoked: i % 100 == 0))
            #expect(index.device(nucDigest: Self.digest(i))?.serial == "CAM-\(i)")
            #expect(index.decide(nucDigest: Self.digest(i), table: i % 7) == (i % 100 == 0 ? ValidationOutcome.fail(.revoked) : .pass))
            #expect(index.decide(nucDigest: Self.digest(i), table: 15) == .fail(.tableNotAssigned))
            #expect(index.serial(slot: i) == "CAM-\(i)")
        }
        #expect(index.device(nucDigest: Self.digest(n)) == nil)
        #expect(index.decide(nucDigest: Self.digest(n), table: 0) == .fail(.unknownDevice))
        #expect(index.device(serial: DeviceSerial(unchecked: "CAM-\(n)")) == nil)
        #expect(index.device(serial: DeviceSerial(unchecked: "CAM-")) == nil)
    }

    @Test func bulkInsertFromBytesMatchesInsertOfADevice() throws {
        var a = DeviceIndex(), b = DeviceIndex()
        b.reserveCapacity(1000)
        for i in 0..<1000 {
            try a.insert(RegisteredDevice(serial: "SEED-\(i)", nucDigest: Self.digest(i), tableIDs: [1, 2, 3 + i % 9]))
            try b.insert(serialUTF8: Array("SEED-\(i)".utf8)[...], nucDigest: Self.digest(i), tables: (1, 2, 3 + i % 9), revoked: false)
        }
        for i in 0..<1000 {
            #expect(a.device(nucDigest: Self.digest(i)) == b.device(nucDigest: Self.digest(i)))
        }
        let refused: [(serial: String, digest: Int, tables: (Int, Int, Int), conflict: DeviceIndex.InsertConflict)] = [
            ("SEED-5", 5000, (1, 2, 3), .duplicateSerial),
            ("NEW", 5, (1, 2, 3), .duplicateNUCHash),
            ("NEW", 5000, (1, 1, 3), .invalidTables),
            ("NEW", 5000, (1, 2, 65_536), .invalidTables),
        ]
        for r in refused {
            #expect(throws: r.conflict) {
                var c = b
                try c.insert(serialUTF8: Array(r.serial.utf8), nucDigest: Self.digest(r.digest), tables: r.tables, revoked: false)
            }
        }
        #expect(b.count == 1000)
    }

    @Test func serialsAreComparedByTheirBytes() throws {
        var index = DeviceIndex()
        try index.insert(RegisteredDevice(serial: "CAF\u{C9}", nucDigest: Self.digest(1), tableIDs: [1, 2, 3]))
        try index.insert(RegisteredDevice(serial: "CAFE\u{301}", nucDigest: Self.digest(2), tableIDs: [1, 2, 3]))
        #expect(index.count == 2)
        #expect(index.device(serial: DeviceSerial(unchecked: "CAFE\u{301}"))?.nucDigest == Self.digest(2))
        let changed = index.setRevoked(serial: DeviceSerial(unchecked: "CAF\u{C9}"), true)
        #expect(changed)
        #expect(index.device(nucDigest: Self.digest(1))?.revoked == true)
        #expect(index.device(nucDigest: Self.digest(2))?.revoked == false)
        #expect(index.serials(holdingTable: 2).sorted() == ["CAFE\u{301}", "CAF\u{C9}"].sorted())
    }
}
