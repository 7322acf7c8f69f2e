package import NIOPosix
package import Core
package import NodeServices
import Foundation
package import Logging
import Dispatch
import NIOConcurrencyHelpers
import Synchronization
import Prometheus

/// Applies registration-log entries received from peers: verified, strictly in seq order,
/// idempotently, into this node's PostgreSQL and then into memory. New entries are re-pushed (epidemic).
package final class Replicator: Sendable {
    package let store: any LogStore
    /// Where signature checks run (they may take every core for a large catch-up batch).
    let cpu: NIOThreadPool
    package let state: NodeState
    package let verifier: LogVerifier
    package let pushes: PushQueue
    package let logger: Logger

    package init(store: any LogStore, cpu: NIOThreadPool, state: NodeState, verifier: LogVerifier, pushes: PushQueue, logger: Logger) {
        self.store = store
        self.cpu = cpu
        self.state = state
        self.verifier = verifier
        self.pushes = pushes
        self.logger = logger
    }

    package struct Outcome: Sendable {
        package var applied = 0
        package var head: Int64 = 0
        package var refused = 0
        /// False when the database could not take the batch (it went to memory only).
        package var stored = true
    }

    /// When a database write last failed (monotonic nanoseconds; `Int64.min`: never).
    private let lastStoreFailure = Atomic<Int64>(.min)
    private static let origin = ContinuousClock.now

    /// Where this node's database stands when it is behind memory, else nil (docs/ARCHITECTURE.md §2.7).
    package var storeHeadBehindMemory: Int64? { state.databaseHeadBehindMemory }

    /// The seq this node can serve to peers (`GET /peer/v1/log` reads its database) and gossips as its applied seq:
    /// memory's applied seq, or the database's head while that is behind.
    package var servableSeq: Int64 { state.databaseServableSeq }

    /// Whether the last database write failed less than `window` ago (anti-entropy then does not try to refill it).
    package func storeFailedRecently(within window: Duration) -> Bool {
        let last = lastStoreFailure.load(ordering: .relaxed)
        guard last != .min else { return false }
        return Self.nanos(Self.origin.duration(to: .now)) - last < Self.nanos(window)
    }

    private static func nanos(_ d: Duration) -> Int64 { d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000 }

    /// Entries checked and ready to apply (the CPU half of `receive`).
    package struct Verified: Sendable {
        package var items: [(entry: LogEntry, change: LogChange)]
        package var refused: Int
        package var peer: String
    }

    /// Verifies and applies `wire` entries from `peer`. A forged, malformed or conflicting entry is
    /// refused and reported (log line + metric); nothing after it in the batch is applied.
    package func receive(_ wire: [WireLogEntry], from peer: String) async throws -> Outcome {
        try await apply(verify(wire, from: peer), repush: true)
    }

    /// Checks signatures (all cores) and decodes on the CPU thread pool; stops at the first refused entry.
    package func verify(_ wire: [WireLogEntry], from peer: String) async throws -> Verified {
        try await cpu.runIfActive { self.verifyBlocking(wire, from: peer) }
    }

    /// The blocking half of `verify`: never call it on the cooperative pool.
    private func verifyBlocking(_ wire: [WireLogEntry], from peer: String) -> Verified {
        let sorted = wire.sorted(by: { $0.seq < $1.seq })
        var out = Verified(items: [], refused: 0, peer: peer)
        // Every entry's own signature is checked (on all cores for a large batch) before anything is stored: a
        // chain whose last signature verifies authenticates the earlier entries' content, not their signature
        // fields, and a stored entry is served to other nodes as it is. How the first entry links to this node's
        // history is checked against the database's head hash at apply.
        for (w, result) in zip(sorted, Self.verifyAll(sorted, verifier: verifier)) {
            switch result {
            case .success(let item):
                out.items.append(item)
                continue
            case .failure(let error):
                out.refused += 1
                state.metrics.logRejected(reason: error.code == .badSignature ? "bad_signature" : "malformed")
                logger.error("refused a log entry from a peer", metadata: [
                    "replication.peer": "\(peer)", "log.seq": "\(w.seq)", "error": "\(error.code.rawValue)"])
            }
            break
        }
        return out
    }

    /// Applies verified entries: revocations to memory at once, then the database (one transaction, one batch at a
    /// time), then memory. When the database cannot take them, memory takes the whole batch in seq order (it serves
    /// validation) and the database is refilled by anti-entropy once it is back (docs/ARCHITECTURE.md §2.7).
    /// - Parameter repush: pass new entries on to a few peers (for pushed entries: epidemic spread;
    ///   not for pulled ones, which the cluster already has).
    package func apply(_ verified: Verified, repush: Bool) async throws -> Outcome {
        var out = Outcome(applied: 0, head: state.applied, refused: verified.refused)
        guard !verified.items.isEmpty else { return out }
        // A revocation holds in memory before anything else happens: ahead of a gap, and whether or not the database
        // takes it (`EarlyRevocations`).
        state.applyRevocationsEarly(verified.items)
        let memoryBefore = state.applied
        // While the database is behind memory (refilling after an outage) it refuses new entries as a gap; memory,
        // which serves validation, takes them anyway.
        let memoryLeads = state.databaseHeadBehindMemory != nil
        let result: ReplicatedBatch
        do {
            result = try await store.applyReplicated(verified.items)
        } catch {
            if Task.isCancelled { throw error }
            return storeFailed(verified, memoryBefore: memoryBefore, refused: out.refused, repush: repush, error: error)
        }
        for seq in result.conflicts {
            out.refused += 1
            state.metrics.logRejected(reason: "conflict")
            logger.error("refused a conflicting log entry from a peer", metadata: ["replication.peer": "\(verified.peer)", "log.seq": "\(seq)"])
        }
        if let gap = result.gapAt {
            // Out-of-order delivery (a push overtook an earlier one): refused for now; anti-entropy fills the gap.
            state.metrics.logRejected(reason: "gap")
            logger.info("refused entries behind a gap; will pull the missing ones", metadata: ["replication.peer": "\(verified.peer)", "log.seq": "\(gap)"])
        }
        // Memory may lag the database (a standby sharing the authoritative database): offer what the database has.
        if memoryLeads {
            let conflicts = Set(result.conflicts)
            state.offer(verified.items.filter { !conflicts.contains($0.entry.seq) })
        } else {
            let offered = Set((result.duplicates + result.applied).map(\.seq))
            state.offer(verified.items.filter { offered.contains($0.entry.seq) })
        }
        storeTook(head: result.head)
        if repush && !result.applied.isEmpty {
            pushes.enqueue(result.applied, except: verified.peer)
        }
        out.applied = result.applied.count
        out.head = result.head
        return out
    }

    /// The database could not take a batch: memory takes it (in seq order, each entry once; what is ahead of a gap
    /// waits there), and the database's head is remembered so anti-entropy refills it.
    private func storeFailed(_ verified: Verified, memoryBefore: Int64, refused: Int, repush: Bool, error: any Error) -> Outcome {
        lastStoreFailure.store(Self.nanos(Self.origin.duration(to: .now)), ordering: .relaxed)
        state.metrics.storeWriteFailures.increment()
        // Memory and the database were in step, or the database was already behind: it holds at least what memory
        // had before this batch, or what was remembered then.
        let first = state.databaseFellBehind(memoryBefore: memoryBefore)
        state.offer(verified.items)
        let applied = state.applied
        if first {
            logger.warning("the database could not take replicated entries; memory applied them and serves them, the database is refilled when it is back", metadata: [
                "replication.peer": "\(verified.peer)", "log.seq": "\(applied)", "error": "\(error)"])
        }
        state.metrics.storeBehindEntries.set(max(0, applied - (storeHeadBehindMemory ?? applied)))
        let newlyApplied = verified.items.filter { $0.entry.seq > memoryBefore && $0.entry.seq <= applied }.map(\.entry)
        if repush && !newlyApplied.isEmpty { pushes.enqueue(newlyApplied, except: verified.peer) }
        return Outcome(applied: newlyApplied.count, head: applied, refused: refused, stored: false)
    }

    /// The database took a batch and its head is now `head`: it is in step with memory again, or still behind.
    private func storeTook(head: Int64) {
        if state.databaseStored(head: head) {
            lastStoreFailure.store(.min, ordering: .relaxed)
            logger.notice("the database caught up with memory", metadata: ["log.seq": "\(head)"])
        }
    }
}

extension Replicator {
    /// Checks every entry's signature, on all cores for large batches (catch-up pulls 1,000 at a time).
    package static func verifyAll(_ wire: [WireLogEntry], verifier: LogVerifier) -> [Result<(entry: LogEntry, change: LogChange), LogError>] {
        @Sendable func one(_ w: WireLogEntry) -> Result<(entry: LogEntry, change: LogChange), LogError> {
            do throws(LogError) {
                let entry = try w.entry()
                return .success((entry, try verifier.verify(entry)))
            } catch {
                return .failure(error)
            }
        }
        guard wire.count >= 64 else { return wire.map(one) }
        let results = Mutex([Result<(entry: LogEntry, change: LogChange), LogError>?](repeating: nil, count: wire.count))
        let workers = max(1, System.activeProcessorCount)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var local: [(Int, Result<(entry: LogEntry, change: LogChange), LogError>)] = []
            var i = worker
            while i < wire.count {
                local.append((i, one(wire[i])))
                i += workers
            }
            results.withLock { r in for (i, v) in local { r[i] = v } }
        }
        return results.withLock { $0.map { $0! } }
    }
}

/// New entries waiting to be pushed to peers (the leader's commits and entries received from others).
package final class PushQueue: Sendable {
    package struct Item: Sendable {
        package var entries: [LogEntry]
        /// Node ids not to push back to.
        package var except: Set<String>
    }

    package let stream: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation

    package init() {
        (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    package func enqueue(_ entries: [LogEntry], except: String? = nil) {
        continuation.yield(Item(entries: entries, except: except.map { [$0] } ?? []))
    }

    package func finish() { continuation.finish() }
}
