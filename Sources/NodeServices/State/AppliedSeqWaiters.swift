import Synchronization

/// Tasks waiting for the applied seq to reach a value (`X-SMA-Min-Seq`), woken when it does: no polling.
///
/// The applied seq is recorded under the same lock as the waiters, so a waiter registered just after an
/// advance sees it, and one registered just before is resumed by it (no lost wake-up).
package final class AppliedSeqWaiters: Sendable {
    private struct Waiter {
        var seq: Int64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var applied: Int64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
    }

    private let state = Mutex(State())
    /// Most tasks that may wait at once; beyond, `wait` answers false at once (the request gets a 503).
    package let limit: Int

    package init(limit: Int = 10_000) { self.limit = limit }

    /// How many tasks are waiting (a metric and a test hook).
    package var count: Int { state.withLock { $0.waiters.count } }

    /// Records that `applied` is now applied and resumes every waiter it satisfies.
    package func advance(to applied: Int64) {
        let ready = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            guard applied > s.applied else { return [] }
            s.applied = applied
            let due = s.waiters.filter { $0.value.seq <= applied }
            for id in due.keys { s.waiters[id] = nil }
            return due.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Waits until `seq` is applied (true) or the task is cancelled (false).
    package func wait(for seq: Int64) async -> Bool {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let resumeNow: Bool? = state.withLock { s in
                    if s.applied >= seq { return true }
                    if Task.isCancelled || s.waiters.count >= limit { return false }
                    s.waiters[id] = Waiter(seq: seq, continuation: continuation)
                    return nil
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(returning: false)
        }
    }

    /// Waits until `seq` is applied or `timeout` passes; true when it was reached.
    package func wait(for seq: Int64, timeout: Duration) async -> Bool {
        if state.withLock({ $0.applied >= seq }) { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait(for: seq) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
