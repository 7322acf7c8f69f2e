import SMATestSupport
import Dispatch
import Foundation
import SMAPostgres
import Synchronization
import Testing

/// With synchronous standbys (the pg_auto_failover formation), PostgreSQL reports a COMMIT whose wait for the
/// standbys was cancelled as successful, with a WARNING only. Such a commit may exist on the primary alone and be
/// lost in a failover, so it must never reach the caller as committed.
@Suite(.testDatabase) struct SynchronousCommitTests {
    @Test func aCommitWhoseReplicationWaitWasCancelledIsNotReportedAsCommitted() throws {
        let database = try TestDatabase.suite()
        let connection = try database.connect()
        let admin = try database.connect()
        try connection.execute(script: "CREATE TABLE acknowledged (id int PRIMARY KEY)")
        // A standby that never exists; every other session of the shared test server keeps committing locally
        // (synchronous_commit = local by default while this test runs), only ours waits.
        // One statement per call: ALTER SYSTEM refuses a multi-statement script (an implicit transaction).
        try admin.execute(script: "ALTER SYSTEM SET synchronous_commit = 'local'")
        try admin.execute(script: "ALTER SYSTEM SET synchronous_standby_names = 'sma_test_standby_that_never_connects'")
        try admin.execute(script: "SELECT pg_reload_conf()")
        defer {
            try? admin.execute(script: "ALTER SYSTEM RESET synchronous_standby_names")
            try? admin.execute(script: "ALTER SYSTEM RESET synchronous_commit")
            try? admin.execute(script: "SELECT pg_reload_conf()")
        }
        // pg_reload_conf() only signals: wait until this session has read the new setting, or its COMMIT would not wait.
        for _ in 0..<200 {
            if try connection.query("SELECT current_setting('synchronous_standby_names')").first?.decode(0, as: String.self)
                == "sma_test_standby_that_never_connects" { break }
            Thread.sleep(forTimeInterval: 0.025)
        }
        #expect(try connection.query("SELECT current_setting('synchronous_standby_names')").first?.decode(0, as: String.self)
                == "sma_test_standby_that_never_connects")
        let pid = try #require(connection.query("SELECT pg_backend_pid()").first).decode(0, as: Int32.self)
        try connection.execute(script: "SET synchronous_commit = on")
        // The checkpointer, not the session, turns synchronous standbys on for the server after a reload: until it has,
        // a COMMIT does not wait (seen on a loaded machine). So each attempt commits one row, and the test goes on once
        // a COMMIT did wait for the standby and was cancelled there, as a statement timeout or an operator would.
        var error: PostgresError?
        var committedLocally = 0
        for attempt in 1...40 {
            let done = Atomic<Bool>(false)
            let cancelled = Atomic<Bool>(false)
            let canceller = DispatchQueue(label: "canceller")
            canceller.async {
                while !done.load(ordering: .acquiring) {
                    let waiting = (try? admin.query("SELECT count(*) FROM pg_stat_activity WHERE pid = \(pid) AND wait_event = 'SyncRep'")
                        .first?.decode(0, as: Int.self)) ?? 0
                    if waiting > 0 {
                        _ = try? admin.query("SELECT pg_cancel_backend(\(pid))")
                        cancelled.store(true, ordering: .releasing)
                        return
                    }
                    Thread.sleep(forTimeInterval: 0.02)
                }
            }
            do {
                _ = try connection.transaction { connection in try connection.query("INSERT INTO acknowledged VALUES (\(attempt))") }
            } catch let caught as PostgresError {
                error = caught
            }
            done.store(true, ordering: .releasing)
            canceller.sync {}
            committedLocally += 1
            if cancelled.load(ordering: .acquiring) { break }
            #expect(error == nil, "a COMMIT that did not wait must succeed")
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(error?.code == .commitNotReplicated)
        #expect(error?.meansServerIsNoLongerPrimary == true)
        // The server did commit locally: exactly the write that must not be acknowledged.
        try connection.execute(script: "SET synchronous_commit = local")
        #expect(try connection.query("SELECT count(*) FROM acknowledged").first?.decode(0, as: Int.self) == committedLocally)
        // Without the cancelled wait, a commit is reported as committed.
        _ = try connection.transaction { connection in try connection.query("INSERT INTO acknowledged VALUES (1000)") }
    }
}
