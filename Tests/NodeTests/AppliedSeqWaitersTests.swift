import Testing
@testable import NodeServices

/// `X-SMA-Min-Seq` waits are woken by the apply itself: no polling, no lost wake-up, nothing left behind.
@Suite struct AppliedSeqWaitersTests {
    @Test func waiterIsWokenWhenTheSeqIsApplied() async {
        let waiters = AppliedSeqWaiters()
        waiters.advance(to: 3)
        async let reached = waiters.wait(for: 5, timeout: .seconds(30))
        while waiters.count == 0 { await Task.yield() }
        let clock = ContinuousClock()
        let start = clock.now
        waiters.advance(to: 4)
        #expect(waiters.count == 1, "seq 4 does not satisfy a wait for 5")
        waiters.advance(to: 5)
        #expect(await reached)
        #expect(start.duration(to: clock.now) < .seconds(5))
        #expect(waiters.count == 0)
    }

    @Test func alreadyAppliedSeqAnswersAtOnce() async {
        let waiters = AppliedSeqWaiters()
        waiters.advance(to: 10)
        #expect(await waiters.wait(for: 7, timeout: .milliseconds(1)))
        #expect(await waiters.wait(for: 10, timeout: .milliseconds(1)))
    }

    @Test func waitThatTimesOutAnswersFalseAndLeavesNoWaiter() async {
        let waiters = AppliedSeqWaiters()
        #expect(await waiters.wait(for: .max, timeout: .milliseconds(50)) == false)
        #expect(waiters.count == 0)
    }

    @Test func cancelledWaitAnswersFalseAndLeavesNoWaiter() async {
        let waiters = AppliedSeqWaiters()
        let task = Task { await waiters.wait(for: 100) }
        while waiters.count == 0 { await Task.yield() }
        task.cancel()
        #expect(await task.value == false)
        #expect(waiters.count == 0)
    }

    @Test func manyConcurrentWaitersAllWakeOnOneAdvance() async {
        let waiters = AppliedSeqWaiters()
        await withTaskGroup(of: Bool.self) { group in
            for i in 1...200 { group.addTask { await waiters.wait(for: Int64(i % 7 + 1), timeout: .seconds(30)) } }
            while waiters.count < 200 { await Task.yield() }
            waiters.advance(to: 7)
            var all = true
            for await ok in group { all = all && ok }
            #expect(all)
        }
        #expect(waiters.count == 0)
    }
}

extension AppliedSeqWaitersTests {
    @Test func waitersBeyondTheLimitAreTurnedAwayAtOnce() async {
        let waiters = AppliedSeqWaiters(limit: 2)
        async let a = waiters.wait(for: 9, timeout: .seconds(30))
        async let b = waiters.wait(for: 9, timeout: .seconds(30))
        while waiters.count < 2 { await Task.yield() }
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await waiters.wait(for: 9, timeout: .seconds(30)) == false)
        #expect(start.duration(to: clock.now) < .seconds(5))
        waiters.advance(to: 9)
        let (first, second) = await (a, b)
        #expect(first && second)
    }
}
