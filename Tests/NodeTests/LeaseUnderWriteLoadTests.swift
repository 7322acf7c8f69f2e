import SMATestSupport
import Core
import Foundation
import SMAPostgres
import Synchronization
import Testing
@testable import Storage

/// The leader keeps its lease while it writes as fast as it can. Found by `cluster/bench/startup` (one provisioning
/// a request, 4 to 64 connections): every writer queued for `log_head` already held the lease row FOR SHARE, so the
/// renewal's UPDATE of that row waited behind an unbroken chain of share locks until the lease ran out, and the
/// leader answered 503 `not_leader` to its own clients. Writers now take `log_head` first.
@Suite struct LeaseUnderWriteLoadTests {
    @Test func leaseRenewalIsNotStarvedBySustainedConcurrentWrites() async throws {
        let db = try await TestDatabase.create()
        defer { Task { await db.drop() } }
        let epoch = try await db.withConnection { c -> Int64? in
            _ = try Migrator.migrate(c, migrations: Schema.migrations, logger: testLogger)
            return try Store.acquireLease(c, holder: "n1", ttlSeconds: 60)
        }
        let fence = LeaseStateMachine.Fence(holder: "n1", epoch: try #require(epoch))
        let signer = LogSigner.generate()
        let deadline = Date().addingTimeInterval(3)
        let writes = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        // Eight writers on their own threads (the thread pools have one thread a core), each committing as fast as it can.
        let done = Atomic<Int>(0)
        for w in 0..<8 {
            Thread.detachNewThread {
                defer { done.add(1, ordering: .sequentiallyConsistent) }
                do {
                    let c = try db.connect()
                    var i = 0
                    while Date() < deadline {
                        i += 1
                        _ = try c.transaction { c in
                            try Store.append(c, [.deviceRevoked(.init(serial: "NONE-\(w)-\(i)", reason: "load"))],
                                             signer: signer, fence: fence, audit: nil)
                        }
                        writes.add(1, ordering: .relaxed)
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        // Renewals on their own connection, as the lease keeper does, while the writers run.
        let worst = try await db.withConnection { c -> Double in
            var worst = 0.0
            while Date() < deadline {
                let t0 = Date()
                guard try Store.acquireLease(c, holder: "n1", ttlSeconds: 60) == fence.epoch else { return .infinity }
                worst = max(worst, Date().timeIntervalSince(t0))
                Thread.sleep(forTimeInterval: 0.1)
            }
            return worst
        }
        while done.load(ordering: .sequentiallyConsistent) < 8 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(writes.load(ordering: .relaxed) > 100)
        // Before the fix a renewal waited until the writers stopped (~3 s); now at most behind one write.
        #expect(worst < 0.5)
    }
}
