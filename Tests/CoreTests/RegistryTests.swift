import Testing
@testable import Core

@Suite struct RegistryTests {
    let masters = Vectors.masterKeys(tableCount: 20)
    let nuc = NUCHash(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!

    func registry() throws -> Registry {
        let r = Registry()
        r.installKeyTables(KeyTables(masterKeys: masters))
        r.installNUCDigestKey(testNUCDigestKey)
        try r.insert(RegisteredDevice(serial: "CAM-1", nucHash: nuc, tableIDs: [3, 4, 5]))
        return r
    }

    @Test func unregisteredDeviceFails() throws {
        let r = try registry()
        let other = NUCHash(bytes: [UInt8](repeating: 9, count: 32))!
        #expect(r.validate(TestCamera.token(nuc: other, master: masters[3], table: 3, keyIndex: 1)) == .fail(.unknownDevice))
    }

    @Test func tokenUnderATableTheDeviceDoesNotHoldFails() throws {
        let r = try registry()
        #expect(r.validate(TestCamera.token(nuc: nuc, master: masters[6], table: 6, keyIndex: 1)) == .fail(.tableNotAssigned))
    }

    @Test func tokenClaimingAnotherTableFailsAuthentication() throws {
        let r = try registry()
        var token = TestCamera.token(nuc: nuc, master: masters[3], table: 3, keyIndex: 1)
        token.tableID = 4
        #expect(r.validate(token) == .fail(.authenticationFailed))
    }

    @Test func revokedDeviceFailsAndReinstatedDevicePasses() throws {
        let r = try registry()
        let token = TestCamera.token(nuc: nuc, master: masters[5], table: 5, keyIndex: 999)
        #expect(r.validate(token) == .pass)
        #expect(r.setRevoked(serial: DeviceSerial(unchecked: "CAM-1"), true))
        #expect(r.validate(token) == .fail(.revoked))
        #expect(r.counts.revoked == 1)
        #expect(r.setRevoked(serial: DeviceSerial(unchecked: "CAM-1"), false))
        #expect(r.validate(token) == .pass)
        #expect(r.counts.revoked == 0)
        #expect(!r.setRevoked(serial: DeviceSerial(unchecked: "NOPE"), true))
    }

    @Test func tableOutsideTheInstalledTablesFailsAsUnknownTable() throws {
        let r = try registry()
        var token = TestCamera.token(nuc: nuc, master: masters[3], table: 3, keyIndex: 1)
        token.tableID = 20
        #expect(r.validate(token) == .fail(.unknownTable))
    }

    @Test func retiredTableFailsEvenForItsDevice() throws {
        let r = try registry()
        let token = TestCamera.token(nuc: nuc, master: masters[4], table: 4, keyIndex: 10)
        r.setRetired(table: 4, true)
        #expect(r.validate(token) == .fail(.tableRetired))
        #expect(!r.assignableTables.contains(4))
    }

    @Test("a retiring table is no longer assigned, its tokens PASS until the effective time and FAIL after it")
    func retiringTablePassesUntilItsEffectiveTime() throws {
        let clock = ManualClock(1_000_000)
        let r = Registry(nowMillis: { clock.now })
        r.installKeyTables(KeyTables(masterKeys: masters))
        r.installNUCDigestKey(testNUCDigestKey)
        try r.insert(RegisteredDevice(serial: "CAM-1", nucHash: nuc, tableIDs: [3, 4, 5]))
        let token = TestCamera.token(nuc: nuc, master: masters[4], table: 4, keyIndex: 10)
        r.setRetirement(table: 4, effectiveMillis: 1_060_000)
        #expect(!r.assignableTables.contains(4))
        #expect(r.validate(token) == .pass)
        clock.now = 1_059_999
        #expect(r.validate(token) == .pass)
        clock.now = 1_060_000
        #expect(r.validate(token) == .fail(.tableRetired))
        // Other tables of the same device are not affected.
        #expect(r.validate(TestCamera.token(nuc: nuc, master: masters[5], table: 5, keyIndex: 10)) == .pass)
        r.setRetirement(table: 4, effectiveMillis: nil)
        #expect(r.validate(token) == .pass)
    }

    @Test func duplicateSerialOrNUCHashIsRefused() throws {
        let r = try registry()
        #expect(throws: DeviceIndex.InsertConflict.duplicateSerial) {
            try r.insert(RegisteredDevice(serial: "CAM-1", nucHash: NUCHash(bytes: [UInt8](repeating: 1, count: 32))!, tableIDs: [1, 2, 3]))
        }
        #expect(throws: DeviceIndex.InsertConflict.duplicateNUCHash) {
            try r.insert(RegisteredDevice(serial: "CAM-2", nucHash: nuc, tableIDs: [1, 2, 3]))
        }
        #expect(throws: DeviceIndex.InsertConflict.invalidTables) {
            try r.insert(RegisteredDevice(serial: "CAM-3", nucHash: NUCHash(bytes: [UInt8](repeating: 2, count: 32))!, tableIDs: [1, 1, 3]))
        }
        #expect(r.counts.devices == 1)
    }

    @Test func sameTokenGetsTheSameAnswer() throws {
        let r = try registry()
        let token = TestCamera.token(nuc: nuc, master: masters[3], table: 3, keyIndex: 5)
        #expect((0..<100).allSatisfy { _ in r.validate(token) == .pass })
    }

    @Test func nucHashNeverAppearsInDescriptions() {
        #expect(!String(describing: nuc).contains(nuc.hex))
        let token = TestCamera.token(nuc: nuc, master: masters[3], table: 3, keyIndex: 5)
        #expect(!String(describing: token).contains(token.ciphertext.hex))
    }
}

/// A settable clock for retirement tests.
final class ManualClock: @unchecked Sendable {
    // @unchecked: set by the test between calls, never concurrently.
    var now: Int64
    init(_ now: Int64) { self.now = now }
}
