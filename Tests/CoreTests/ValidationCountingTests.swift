import Testing
@testable import Core

@Suite struct ValidationCountingTests {
    let masters = Vectors.masterKeys(tableCount: 20)

    func nuc(_ b: UInt8) -> NUCHash { NUCHash(bytes: [UInt8](repeating: b, count: 32))! }

    @Test func validationsThatIdentifyADeviceAreCountedPerDevice() throws {
        let r = Registry()
        r.installKeyTables(KeyTables(masterKeys: masters))
        r.installNUCDigestKey(testNUCDigestKey)
        try r.insert(RegisteredDevice(serial: "CAM-1", nucHash: nuc(1), tableIDs: [3, 4, 5]))
        try r.insert(RegisteredDevice(serial: "CAM-2", nucHash: nuc(2), tableIDs: [6, 7, 8]))
        // Three images (each token has its own random nonce).
        for _ in 0..<3 { #expect(r.validate(TestCamera.token(nuc: nuc(1), master: masters[3], table: 3, keyIndex: 1)) == .pass) }
        let pass = TestCamera.token(nuc: nuc(1), master: masters[3], table: 3, keyIndex: 1)
        // Not counted: a tampered token, an unknown device, a table the device does not hold.
        var tampered = pass
        tampered.authTag = Bytes16([UInt8](repeating: 0, count: 16))!
        _ = r.validate(tampered)
        _ = r.validate(TestCamera.token(nuc: nuc(9), master: masters[3], table: 3, keyIndex: 1))
        _ = r.validate(TestCamera.token(nuc: nuc(2), master: masters[3], table: 3, keyIndex: 1))
        // Counted: a revoked device's token (someone still presents it).
        r.setRevoked(serial: DeviceSerial(unchecked: "CAM-2"), true)
        #expect(r.validate(TestCamera.token(nuc: nuc(2), master: masters[7], table: 7, keyIndex: 2)) == .fail(.revoked))
        let drained = r.drainValidationCounts()
        #expect(drained.map(\.slot) == [0, 1])
        #expect(drained.map(\.count) == [3, 1])
        #expect(r.serials(slots: [1, 0, 5]) == ["CAM-2", "CAM-1", nil])
        // Draining resets.
        #expect(r.drainValidationCounts().isEmpty)
        _ = r.validate(pass)
        r.resetValidationCount(serial: DeviceSerial(unchecked: "CAM-1"))
        #expect(r.drainValidationCounts().isEmpty)
    }

    @Test func countingCanBeTurnedOff() throws {
        let r = Registry(countValidations: false)
        r.installKeyTables(KeyTables(masterKeys: masters))
        r.installNUCDigestKey(testNUCDigestKey)
        try r.insert(RegisteredDevice(serial: "CAM-1", nucHash: nuc(1), tableIDs: [3, 4, 5]))
        #expect(r.validate(TestCamera.token(nuc: nuc(1), master: masters[3], table: 3, keyIndex: 1)) == .pass)
        #expect(r.drainValidationCounts().isEmpty)
    }

    @Test func countersGrowInChunksAndCountConcurrentIncrementsExactly() async {
        let c = ValidationCounters()
        c.reserve(slots: ValidationCounters.chunkSize + 5)
        #expect(c.capacity == 2 * ValidationCounters.chunkSize)
        c.increment(slot: c.capacity + 10, tag: 1)   // beyond capacity: ignored, no trap
        let last = ValidationCounters.chunkSize + 4
        await withTaskGroup(of: Void.self) { g in
            for t in 0..<4 {
                g.addTask {
                    for i in 0..<10_000 {
                        let tag = UInt32(t * 100_000 + i + 1)   // distinct images
                        c.increment(slot: last, tag: tag)
                        c.increment(slot: 7, tag: tag)
                    }
                }
            }
        }
        let drained = c.drain(slots: last + 1)
        #expect(drained.map(\.slot) == [7, last])
        #expect(drained.map(\.count) == [40_000, 40_000])
    }

    /// Abuse revocations name the API keys that validated a device most (issue 10, item 2): about one counted image
    /// in 64 is sampled with its caller's key id; replays and anonymous callers add no sample.
    @Test func callersOfCountedImagesAreSampledPerDevice() throws {
        let r = Registry()
        r.installKeyTables(KeyTables(masterKeys: masters))
        r.installNUCDigestKey(testNUCDigestKey)
        try r.insert(RegisteredDevice(serial: "CAM-1", nucHash: nuc(1), tableIDs: [3, 4, 5]))
        func token(sampled: Bool) -> CameraToken {
            while true {
                let t = TestCamera.token(nuc: nuc(1), master: masters[3], table: 3, keyIndex: 1)
                if CallerSamples.isSample(tag: ValidationCounters.tag(nonce: t.nonce)) == sampled { return t }
            }
        }
        let sampled = (0..<5).map { _ in token(sampled: true) }
        for t in sampled.prefix(3) { _ = r.validate(t, caller: 7) }
        _ = r.validate(sampled[3], caller: 9)
        _ = r.validate(sampled[4], caller: 0)              // anonymous: counted, not attributed
        for _ in 0..<100 { _ = r.validate(sampled[4], caller: 9) }  // replays of a recent image: not counted, not sampled
        for _ in 0..<20 { _ = r.validate(token(sampled: false), caller: 9) }  // counted, not sampled
        #expect(r.callers.top(slot: 0).map(\.caller) == [7, 9])
        #expect(r.callers.top(slot: 0).map(\.estimate) == [3 * CallerSamples.every, CallerSamples.every])
        r.resetValidationCount(serial: DeviceSerial(unchecked: "CAM-1"))
        #expect(r.callers.top(slot: 0).isEmpty)
    }

    @Test func aReplayedTokenCountsOnce() throws {
        let r = Registry()
        r.installKeyTables(KeyTables(masterKeys: masters))
        r.installNUCDigestKey(testNUCDigestKey)
        try r.insert(RegisteredDevice(serial: "CAM-1", nucHash: nuc(1), tableIDs: [3, 4, 5]))
        let token = TestCamera.token(nuc: nuc(1), master: masters[3], table: 3, keyIndex: 1)
        // 10 x 1,000 submissions of the same token: every one PASSes, one is counted.
        for _ in 0..<10 { #expect(r.validate([CameraToken](repeating: token, count: 1000)).allSatisfy { $0 == .pass }) }
        #expect(r.drainValidationCounts().map(\.count) == [1])
        // Still remembered after the drain: replaying it later counts nothing.
        _ = r.validate(token)
        #expect(r.drainValidationCounts().isEmpty)
        // A fresh image of the same device counts.
        _ = r.validate(TestCamera.token(nuc: nuc(1), master: masters[4], table: 4, keyIndex: 9))
        #expect(r.drainValidationCounts().map(\.count) == [1])
    }

    @Test func replaysOfUpToThreeTokensInRotationCountEachOnceAndFreshImagesAlwaysCount() {
        let c = ValidationCounters()
        c.reserve(slots: 1)
        for _ in 0..<1000 { for tag: UInt32 in [11, 22, 33] { c.increment(slot: 0, tag: tag) } }
        #expect(c.drain(slots: 1).map(\.count) == [3])
        // Distinct images are all counted (the filter only ever refuses a tag it holds).
        for tag in UInt32(100)..<UInt32(1100) { #expect(c.increment(slot: 0, tag: tag)) }
        #expect(c.drain(slots: 1).map(\.count) == [1000])
        // The bound: a tag is forgotten once 3 other images were counted after it.
        #expect(c.increment(slot: 0, tag: 11))
        // Tags are per device: the same tag on another device counts there.
        c.reserve(slots: 2)
        #expect(c.increment(slot: 1, tag: 11))
        #expect(!c.increment(slot: 1, tag: 11))
    }
}
