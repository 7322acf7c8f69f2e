import Core
import Testing

@Suite struct ValidationSeriesTests {
    @Test func countsLandInTheTenSecondBucketOfTheirTime() {
        var s = ValidationSeries(width: 10, capacity: 6)
        s.add(pass: 3, fail: 1, at: 1_000_003)
        s.add(pass: 2, fail: 0, at: 1_000_009)
        s.add(pass: 0, fail: 5, at: 1_000_010)
        let b = s.buckets(endingAt: 1_000_015)
        #expect(b.count == 6)
        #expect(b.map(\.start) == [999_960, 999_970, 999_980, 999_990, 1_000_000, 1_000_010])
        #expect(b[4] == .init(start: 1_000_000, pass: 5, fail: 1))
        #expect(b[5] == .init(start: 1_000_010, pass: 0, fail: 5))
        #expect(b[0..<4].allSatisfy { $0.pass == 0 && $0.fail == 0 })
    }

    @Test func bucketsOlderThanTheRingAreForgotten() {
        var s = ValidationSeries(width: 10, capacity: 3)
        s.add(pass: 7, fail: 0, at: 100)
        s.add(pass: 1, fail: 0, at: 130)   // reuses 100's slot
        s.add(pass: 9, fail: 9, at: 105)   // too old now: dropped
        let b = s.buckets(endingAt: 130)
        #expect(b.map(\.start) == [110, 120, 130])
        #expect(b.map(\.pass) == [0, 0, 1])
        #expect(s.buckets(endingAt: 200).allSatisfy { $0.pass == 0 && $0.fail == 0 })
    }

    @Test func seriesFromSeveralNodesAddUpBucketByBucket() {
        var a = ValidationSeries(width: 10, capacity: 3), b = ValidationSeries(width: 10, capacity: 3)
        a.add(pass: 1, fail: 2, at: 20)
        b.add(pass: 10, fail: 0, at: 25)
        b.add(pass: 4, fail: 4, at: 30)
        let sum = ValidationSeries.sum([a.buckets(endingAt: 30), b.buckets(endingAt: 30)])
        #expect(sum == [.init(start: 10), .init(start: 20, pass: 11, fail: 2), .init(start: 30, pass: 4, fail: 4)])
    }
}
