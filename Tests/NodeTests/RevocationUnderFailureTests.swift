import Core
import SMATestSupport
import Foundation
import Logging
import NIOPosix
import SMAPostgres
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

/// Revocations under failure (docs/ARCHITECTURE.md §2.7, §8): a follower whose database is down still applies a
/// revocation to memory, and its database catches up once it is back; `staleness_mode` answers for a node cut off
/// from the leader.
@Suite(.serialized) struct RevocationUnderFailureTests {
    /// Makes database `db` refuse connections and ends the ones it has (a database that went down), or lets it
    /// accept them again.
    private static func setAvailable(_ db: TestDatabase, _ available: Bool) async throws {
        let (admin, name) = (db.adminConninfo, db.name)
        try await NIOThreadPoolRunner.run {
            let c = try PostgresConnection(conninfo: admin, logger: testLogger)
            try c.execute(script: "ALTER DATABASE \(name) ALLOW_CONNECTIONS \(available)")
            if !available {
                try c.execute(script: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)' AND pid <> pg_backend_pid()")
            }
        }
    }

    @Test func replicatedRevocationFailsTheDeviceWhileTheFollowersDatabaseIsDownAndTheDatabaseCatchesUpAfter() async throws {
        try await TestCluster.with(layout: [["a1"], ["b1"]]) { cluster in
            try await cluster.waitUntil("a1 leads and b1 is ready") {
                cluster.runtime("a1").leadership.isLeader && cluster.runtime("b1").state.isReady
            }
            let (file, _) = try await cluster.provision(via: "a1", serial: "CAM-DOWN")
            let token = NodeAPITests.token(from: file)
            try await cluster.waitUntil("b1 passes the device") { await cluster.validate(on: "b1", token) == true }

            let b1 = cluster.runtime("b1")
            try await Self.setAvailable(cluster.databases[1], false)
            do {
                let revoke = await cluster.call("POST", "\(cluster.nodes["a1"]!.publicURL)/api/v1/devices/CAM-DOWN/revoke", role: .admin)
                #expect(revoke?.status == 200)
                let seq = Int64(revoke?.header("X-SMA-Seq") ?? "") ?? .max
                // b1 cannot store it, yet it never PASSes the device again.
                try await cluster.waitUntil("b1 fails the revoked device without its database", timeout: .seconds(10)) {
                    await cluster.validate(on: "b1", token) == false
                }
                // Memory keeps serving current data: a device provisioned meanwhile PASSes on b1 too.
                let (later, laterSeq) = try await cluster.provision(via: "a1", serial: "CAM-LATER")
                try await cluster.waitUntil("b1 passes a device provisioned while its database is down", timeout: .seconds(10)) {
                    await cluster.validate(on: "b1", NodeAPITests.token(from: later)) == true
                }
                #expect(b1.state.applied >= max(seq, laterSeq))
                #expect(b1.peer?.replicator.storeHeadBehindMemory != nil, "b1's database is behind its memory")
                #expect(await cluster.validate(on: "b1", token) == false)
            } catch {
                try await Self.setAvailable(cluster.databases[1], true)
                throw error
            }
            try await Self.setAvailable(cluster.databases[1], true)

            // Read-your-writes on a route answered from the database: it waits until the database has the entry.
            let seqNow = String(b1.state.applied)
            let read = await cluster.call("GET", "\(cluster.nodes["b1"]!.publicURL)/api/v1/devices/CAM-DOWN", role: .admin,
                                          headers: [("X-SMA-Min-Seq", seqNow)])
            #expect(read?.status == 200 || read?.status == 503, "answered from the database, or 503 while it catches up")
            if read?.status == 200 {
                let device = try JSONSerialization.jsonObject(with: Data(read!.body)) as? [String: Any]
                #expect(device?["revoked"] as? Bool == true, "the database answers only once it has the revocation")
            }

            // Once back, the database is refilled up to memory, the revocation included.
            try await cluster.waitUntil("b1's database caught up with its memory", timeout: .seconds(30)) {
                guard let snapshot = try? await b1.store.revocationSnapshot() else { return false }
                return snapshot.headSeq >= b1.state.applied && snapshot.revokedSerials.contains("CAM-DOWN")
            }
            #expect(b1.peer?.replicator.storeHeadBehindMemory == nil)
            #expect(try await b1.state.registryDisagreements(with: b1.store) == 0)
            #expect(await cluster.validate(on: "b1", token) == false)
        }
    }

    @Test func nodeCutOffFromTheLeaderFailsInFailModeAndPassesAndCountsInWarnMode() async throws {
        try await TestCluster.with(layout: [["a1"], ["b1", "b2"]], configure: { c in
            c.maxStalenessSeconds = 2
            c.stalenessMode = c.nodeID == "b2" ? .warn : .fail
        }) { cluster in
            try await cluster.waitUntil("a1 leads and the followers are ready") {
                cluster.runtime("a1").leadership.isLeader && cluster.runtime("b1").state.isReady && cluster.runtime("b2").state.isReady
            }
            let (file, _) = try await cluster.provision(via: "a1", serial: "CAM-STALE")
            let token = NodeAPITests.token(from: file)
            for id in ["a1", "b1", "b2"] {
                try await cluster.waitUntil("\(id) passes the device") { await cluster.validate(on: id, token) == true }
            }
            #expect(cluster.runtime("b1").state.leaderContact.age() < .seconds(2))

            await cluster.stop("a1")
            // b1 (fail): FAIL naming the staleness once it has heard nothing current from the leader for 2 s.
            try await cluster.waitUntil("b1 answers FAIL as stale", timeout: .seconds(15)) { await cluster.validate(on: "b1", token) == false }
            let body = Array(try JSONEncoder().encode(ValidationRequest(camera_token: token)))
            let answer = try #require(await cluster.call("POST", "\(cluster.nodes["b1"]!.publicURL)/validate", role: .validator, body: body))
            #expect(answer.status == 200)
            let response = try JSONDecoder().decode(ValidationResponse.self, from: Data(answer.body))
            #expect(!response.valid && response.message == FailureReason.stale.message)
            let b1Metrics = String(decoding: cluster.runtime("b1").metrics.exposition(), as: UTF8.self)
            #expect(b1Metrics.contains("sma_validations_total{result=\"fail\",reason=\"stale\"}"))
            #expect(!b1Metrics.contains("sma_stale_validations_total{mode=\"fail\"} 0\n"))
            #expect(b1Metrics.contains("sma_leader_contact_age_seconds"))
            #expect(b1Metrics.contains("sma_validation_knowledge_age_seconds_bucket"))

            // b2 (warn): still PASS, counted as stale.
            #expect(await cluster.validate(on: "b2", token) == true)
            let b2Metrics = String(decoding: cluster.runtime("b2").metrics.exposition(), as: UTF8.self)
            #expect(!b2Metrics.contains("sma_stale_validations_total{mode=\"warn\"} 0\n"))
            #expect(b2Metrics.contains("sma_stale_validations_total{mode=\"warn\"}"))
        }
    }
}

/// Runs blocking libpq work off the cooperative pool.
private enum NIOThreadPoolRunner {
    static func run(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
