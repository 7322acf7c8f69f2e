import Core
import Foundation
import Logging
import NIOConcurrencyHelpers
import Replication
import SMAPostgres
import Synchronization
import Dispatch

/// Applies registration-log entries received from peers: verified, strictly in seq order,
/// idempotently, into this node's PostgreSQL and then into memory. New entries are re-pushed (epidemic).
final class Replicator: Sendable {
    let pool: PostgresPool
    let state: NodeState
    let verifier: LogVerifier
    let pushes: PushQueue
    let logger: Logger
    /// One apply at a time (held on a thread-pool thread around the whole transaction).
    private let applyLock = NIOLock()

    init(pool: PostgresPool, state: NodeState, verifier: LogVerifier, pushes: PushQueue, logger: Logger) {
        self.pool = pool
        self.state = state
        self.verifier = verifier
        self.pushes = pushes
        self.logger = logger
    }

    struct Outcome: Sendable {
        var applied = 0
        var head: Int64 = 0
        var refused = 0
    }

    /// Entries checked and ready to apply (the CPU half of `receive`).
    struct Verified: Sendable {
        var items: [(entry: LogEntry, change: LogChange)]
        var refused: Int
        var peer: String
    }

    /// Verifies and applies `wire` entries from `peer`. A forged, malformed or conflicting entry is
    /// refused and reported (log line + metric); nothing after it in the batch is applied.
    func receive(_ wire: [WireLogEntry], from peer: String) async throws -> Outcome {
        try await apply(verify(wire, from: peer), repush: true)
    }

    /// Checks signatures (all cores) and decodes; stops at the first refused entry.
    func verify(_ wire: [WireLogEntry], from peer: String) -> Verified {
        let sorted = wire.sorted(by: { $0.seq < $1.seq })
        var out = Verified(items: [], refused: 0, peer: peer)
        // Fast path: an unbroken hash chain needs one signature check (its last entry). How the first
        // entry links to this node's history is checked against the database's head hash at apply.
        if sorted.count > 1, let entries = try? sorted.map({ w throws(LogError) in try w.entry() }),
           let changes = try? verifier.verifyChain(entries) {
            out.items = Array(zip(entries, changes)).map { (entry: $0.0, change: $0.1) }
            return out
        }
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

    /// Writes verified entries to the database (one transaction, one at a time), then memory.
    /// - Parameter repush: pass new entries on to a few peers (for pushed entries: epidemic spread;
    ///   not for pulled ones, which the cluster already has).
    func apply(_ verified: Verified, repush: Bool) async throws -> Outcome {
        var out = Outcome(applied: 0, head: state.applied, refused: verified.refused)
        guard !verified.items.isEmpty else { return out }
        let lock = applyLock
        let batch = verified.items
        let result = try await pool.withConnection { c in
            try lock.withLock { try Store.applyReplicated(c, batch) }
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
        let offered = Set((result.duplicates + result.applied).map(\.seq))
        state.offer(verified.items.filter { offered.contains($0.entry.seq) })
        if repush && !result.applied.isEmpty {
            pushes.enqueue(result.applied, except: verified.peer)
        }
        out.applied = result.applied.count
        out.head = result.head
        return out
    }
}

extension Replicator {
    /// Checks every entry's signature, on all cores for large batches (catch-up pulls 1,000 at a time).
    static func verifyAll(_ wire: [WireLogEntry], verifier: LogVerifier) -> [Result<(entry: LogEntry, change: LogChange), LogError>] {
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
final class PushQueue: Sendable {
    struct Item: Sendable {
        var entries: [LogEntry]
        /// Node ids not to push back to.
        var except: Set<String>
    }

    let stream: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    func enqueue(_ entries: [LogEntry], except: String? = nil) {
        continuation.yield(Item(entries: entries, except: except.map { [$0] } ?? []))
    }

    func finish() { continuation.finish() }
}
