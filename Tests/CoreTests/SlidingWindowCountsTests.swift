import Testing
@testable import Core

@Suite struct SlidingWindowCountsTests {
    /// 24 buckets of one hour, starting at t = 0.
    func window(floor: UInt32 = 1) -> SlidingWindowCounts {
        SlidingWindowCounts(buckets: 24, bucketSeconds: 3600, floor: floor, now: 0)
    }

    @Test func countsAddUpWithinTheWindow() {
        var w = window()
        w.add([(slot: 3, count: 5), (slot: 7, count: 1)], now: 10)
        w.add([(slot: 3, count: 2)], now: 5 * 3600)
        #expect(w.count(slot: 3) == 7)
        #expect(w.count(slot: 7) == 1)
        #expect(w.count(slot: 4) == 0)
        #expect(w.count(slot: 1_000_000) == 0)
    }

    @Test func anHourLeavesTheWindowTwentyFourBucketsLater() {
        var w = window()
        w.add([(slot: 0, count: 10)], now: 0)            // bucket 0
        w.add([(slot: 0, count: 1)], now: 3600)          // bucket 1
        w.advance(to: 23 * 3600 + 3599)                  // bucket 23: buckets 0...23 are in the window
        #expect(w.count(slot: 0) == 11)
        w.advance(to: 24 * 3600)                         // bucket 24: bucket 0 left
        #expect(w.count(slot: 0) == 1)
        w.advance(to: 25 * 3600)
        #expect(w.count(slot: 0) == 0)
    }

    @Test func aLongPauseClearsEverything() {
        var w = window(floor: 2)
        w.add([(slot: 1, count: 5)], now: 0)
        #expect(w.heavy == [1])
        w.advance(to: 100 * 3600)
        #expect(w.count(slot: 1) == 0)
        #expect(w.heavy.isEmpty)
        w.add([(slot: 1, count: 1)], now: 100 * 3600)
        #expect(w.count(slot: 1) == 1)
    }

    @Test func timeGoingBackwardsIsIgnored() {
        var w = window()
        w.add([(slot: 0, count: 1)], now: 10 * 3600)
        w.add([(slot: 0, count: 1)], now: 3 * 3600)
        #expect(w.count(slot: 0) == 2)
        #expect(w.currentBucket == 10)
    }

    @Test func heavyHittersAreThoseAtTheFloorHighestFirst() {
        var w = window(floor: 100)
        w.add([(slot: 1, count: 99), (slot: 2, count: 100), (slot: 3, count: 250)], now: 0)
        #expect(w.heavyHitters().map(\.slot) == [3, 2])
        #expect(w.heavyHitters(limit: 1).map(\.count) == [250])
        w.add([(slot: 1, count: 1)], now: 1)
        #expect(Set(w.heavyHitters().map(\.slot)) == [1, 2, 3])
        // Once their hour leaves the window they are no longer heavy.
        w.add([(slot: 3, count: 100)], now: 23 * 3600)
        w.advance(to: 24 * 3600)
        #expect(w.heavyHitters().map(\.slot) == [3])
        #expect(w.count(slot: 3) == 100)
    }

    @Test func anHourSaturatesAt65535WithoutCorruptingTheTotal() {
        var w = SlidingWindowCounts(buckets: 3, bucketSeconds: 10, now: 0)
        w.add([(slot: 0, count: 70_000)], now: 0)
        #expect(w.count(slot: 0) == 70_000)
        w.advance(to: 10)   // bucket 0 is stored as 65,535
        #expect(w.count(slot: 0) == 65_535)
        w.advance(to: 30)   // and leaves the window without underflow
        #expect(w.count(slot: 0) == 0)
    }

    @Test func resetForgetsEveryBucketOfOneDevice() {
        var w = SlidingWindowCounts(buckets: 4, bucketSeconds: 10, floor: 1, now: 0)
        w.add([(slot: 0, count: 3), (slot: 1, count: 4)], now: 0)
        w.add([(slot: 0, count: 5)], now: 15)
        w.reset(slot: 0)
        #expect(w.count(slot: 0) == 0)
        #expect(!w.heavy.contains(0))
        w.advance(to: 45)   // the buckets that held its counts leave without underflow
        #expect(w.count(slot: 0) == 0)
        #expect(w.count(slot: 1) == 0)
        w.add([(slot: 0, count: 2)], now: 45)
        #expect(w.count(slot: 0) == 2)
    }

    @Test func aOneBucketWindowIsJustTheCurrentBucket() {
        var w = SlidingWindowCounts(buckets: 1, bucketSeconds: 60, now: 0)
        w.add([(slot: 2, count: 9)], now: 59)
        #expect(w.count(slot: 2) == 9)
        w.advance(to: 60)
        #expect(w.count(slot: 2) == 0)
    }

    @Test func slidingSumMatchesABruteForceModel() {
        // Random adds over 3 days against a list of (time, slot, count) summed over the window.
        var rng = SystemRandomNumberGenerator()
        var w = SlidingWindowCounts(buckets: 6, bucketSeconds: 100, floor: 1, now: 0)
        var events: [(bucket: Int64, slot: Int, count: UInt32)] = []
        var t: Int64 = 0
        for _ in 0..<600 {
            t += Int64.random(in: 0...40, using: &rng)
            let slot = Int.random(in: 0..<20, using: &rng), n = UInt32.random(in: 1...50, using: &rng)
            w.add([(slot: slot, count: n)], now: t)
            events.append((t / 100, slot, n))
            let b = t / 100
            for s in 0..<20 {
                let expected = events.filter { $0.slot == s && $0.bucket > b - 6 }.reduce(UInt32(0)) { $0 + $1.count }
                #expect(w.count(slot: s) == expected)
            }
        }
    }
}
