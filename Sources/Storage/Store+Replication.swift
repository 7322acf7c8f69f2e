package import Core
package import NodeServices
package import SMAPostgres
import Logging
import Foundation

extension Store {

    /// Applies verified entries strictly in seq order, idempotently, in one transaction.
    /// Consecutive provisionings are inserted with one statement (catch-up of 100,000 entries).
    package static func applyReplicated(_ c: PostgresConnection, _ batch: [(entry: LogEntry, change: LogChange)]) throws -> ReplicatedBatch {
        try c.transaction { c in
            var out = ReplicatedBatch()
            let headRow = try c.query("SELECT seq, hash FROM log_head WHERE id = 1 FOR UPDATE").first!
            var head = try headRow.decode(0, as: Int64.self)
            var headHash = try headRow.decode(1, as: [UInt8].self)
            let sorted = batch.sorted { $0.entry.seq < $1.entry.seq }
            let old = sorted.filter { $0.entry.seq <= head }
            if !old.isEmpty {
                var stored: [Int64: [UInt8]] = [:]
                for row in try c.query("SELECT seq, signature FROM registration_log WHERE seq = ANY(\(old.map(\.entry.seq)))") {
                    stored[try row.decode(0, as: Int64.self)] = try row.decode(1, as: [UInt8].self)
                }
                for item in old {
                    if let s = stored[item.entry.seq], s != item.entry.signature { out.conflicts.append(item.entry.seq) }
                    else { out.duplicates.append(item.entry) }
                }
            }
            var pending: [(entry: LogEntry, change: LogChange)] = []
            for item in sorted where item.entry.seq > head {
                if item.entry.seq != head + 1 {
                    if item.entry.seq > head + 1 { out.gapAt = head + 1 }
                    if out.gapAt != nil { break } else { continue }   // a repeated seq inside the batch: skip
                }
                // The chain: the entry must extend this database's history, not another one.
                guard item.entry.previousHash == headHash else {
                    out.conflicts.append(item.entry.seq)
                    break
                }
                pending.append(item)
                head += 1
                headHash = item.entry.hash
            }
            guard !pending.isEmpty else {
                out.head = head
                return out
            }
            try insertEntries(c, pending.map(\.entry))
            try SQLLogApplier.apply(c, pending)
            try c.query("UPDATE log_head SET seq = \(head), hash = \(headHash) WHERE id = 1")
            out.applied = pending.map(\.entry)
            out.head = head
            return out
        }
    }


    /// Inserts log rows with one statement.
    package static func insertEntries(_ c: PostgresConnection, _ entries: [LogEntry]) throws {
        try c.query("""
            INSERT INTO registration_log (seq, previous_hash, epoch, created_ms, kind, payload, signature)
            SELECT s, h, e, t, k::smallint, p, g
            FROM unnest(\(entries.map(\.seq)), \(entries.map(\.previousHash)), \(entries.map(\.epoch)),
                        \(entries.map(\.timestampMillis)), \(entries.map(\.kind.storageCode)), \(entries.map(\.payload)),
                        \(entries.map(\.signature)))
                 AS x(s, h, e, t, k, p, g)
            """)
    }



    /// Makes an empty database a replica of the cluster: records the KEK check and the log verification key.
    package static func prepareReplica(_ c: PostgresConnection, kek: KeyEncryptionKey, logVerificationKey: [UInt8]) throws {
        try c.transaction { c in
            try c.query("SELECT pg_advisory_xact_lock(7261001)")
            guard try meta(c, MetaKey.kekCheck) == nil else { return }
            try setMeta(c, MetaKey.kekCheck, kek.seal(Array("sma-kek-check".utf8), label: MetaKey.kekCheck))
            try setMeta(c, MetaKey.logPublicKey, logVerificationKey)
        }
    }
}
