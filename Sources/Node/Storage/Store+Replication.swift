import Core
import Foundation
import Logging
import SMAPostgres

extension Store {
    /// What applying a batch of replicated entries did.
    struct BatchApply: Sendable {
        /// Entries newly written to this database, in seq order.
        var applied: [LogEntry] = []
        /// Entries this database already had (same signature).
        var duplicates: [LogEntry] = []
        /// Refused: conflicting entry for an existing seq.
        var conflicts: [Int64] = []
        /// The first seq missing before the rest of the batch could apply.
        var gapAt: Int64?
        var head: Int64 = 0
    }

    /// Applies verified entries strictly in seq order, idempotently, in one transaction.
    /// Consecutive provisionings are inserted with one statement (catch-up of 100,000 entries).
    static func applyReplicated(_ c: PostgresConnection, _ batch: [(entry: LogEntry, change: LogChange)]) throws -> BatchApply {
        try c.transaction { c in
            var out = BatchApply()
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
            try applyChanges(c, pending)
            try c.query("UPDATE log_head SET seq = \(head), hash = \(headHash) WHERE id = 1")
            out.applied = pending.map(\.entry)
            out.head = head
            return out
        }
    }

    /// Applies changes to the tables in order; consecutive provisionings go in with one statement.
    static func applyChanges(_ c: PostgresConnection, _ items: [(entry: LogEntry, change: LogChange)]) throws {
        var run: [(LogEntry, LogChange.DeviceProvisioned)] = []
        func flush() throws {
            guard !run.isEmpty else { return }
            try insertDevices(c, run)
            run.removeAll(keepingCapacity: true)
        }
        for item in items {
            if case .deviceProvisioned(let d) = item.change {
                run.append((item.entry, d))
            } else {
                try flush()
                try applyToTables(c, item.entry, item.change)
            }
        }
        try flush()
    }

    /// Inserts log rows with one statement.
    static func insertEntries(_ c: PostgresConnection, _ entries: [LogEntry]) throws {
        try c.query("""
            INSERT INTO registration_log (seq, previous_hash, epoch, created_ms, kind, payload, signature)
            SELECT s, h, e, t, k, p, g
            FROM unnest(\(entries.map(\.seq)), \(byteaArray(entries.map(\.previousHash))), \(entries.map(\.epoch)),
                        \(entries.map(\.timestampMillis)), \(entries.map(\.kind.rawValue)), \(byteaArray(entries.map(\.payload))),
                        \(byteaArray(entries.map(\.signature))))
                 AS x(s, h, e, t, k, p, g)
            """)
    }

    /// Inserts provisioned devices with one statement.
    static func insertDevices(_ c: PostgresConnection, _ run: [(LogEntry, LogChange.DeviceProvisioned)]) throws {
        for (e, d) in run where d.tableIDs.count != 3 || Hex.decode(d.nucHash)?.count != 32 {
            throw LogError(.malformedPayload, seq: e.seq, "device registration is malformed")
        }
        try c.query("""
            INSERT INTO devices (serial, nuc_hash, family, t0, t1, t2, certificate_pem, public_key_pem, provisioned_at, seq)
            SELECT s, decode(n, 'hex'), f, a, b, c, cert, pk, to_timestamp(ms / 1000.0), q
            FROM unnest(\(run.map { $0.1.serial }), \(run.map { $0.1.nucHash }), \(run.map { $0.1.family }),
                        \(run.map { $0.1.tableIDs[0] }), \(run.map { $0.1.tableIDs[1] }), \(run.map { $0.1.tableIDs[2] }),
                        \(run.map { $0.1.certificatePEM }), \(run.map { $0.1.publicKeyPEM }),
                        \(run.map { $0.0.timestampMillis }), \(run.map { $0.0.seq }))
                 AS x(s, n, f, a, b, c, cert, pk, ms, q)
            """)
    }

    /// A `bytea[]` bind in PostgreSQL's binary array format (no hex round trip for bulk inserts).
    static func byteaArray(_ values: [[UInt8]]) -> PostgresBind {
        var out: [UInt8] = []
        out.reserveCapacity(20 + values.reduce(0) { $0 + $1.count + 4 })
        func put32(_ v: Int32) { withUnsafeBytes(of: v.bigEndian) { out += $0 } }
        put32(1)                                // dimensions
        put32(0)                                // no NULLs
        put32(Int32(PostgresDataType.bytea.oid)) // element type
        put32(Int32(values.count))              // length of dimension 1
        put32(1)                                // lower bound
        for v in values {
            put32(Int32(v.count))
            out += v
        }
        return PostgresBind(type: PostgresDataType(oid: 1001), format: .binary, bytes: out)
    }

    /// Makes an empty database a replica of the cluster: records the KEK check and the log verification key.
    static func prepareReplica(_ c: PostgresConnection, kek: KeyEncryptionKey, logVerificationKey: [UInt8]) throws {
        try c.transaction { c in
            try c.query("SELECT pg_advisory_xact_lock(7261001)")
            guard try meta(c, MetaKey.kekCheck) == nil else { return }
            try setMeta(c, MetaKey.kekCheck, kek.seal(Array("sma-kek-check".utf8), label: MetaKey.kekCheck))
            try setMeta(c, MetaKey.logPublicKey, logVerificationKey)
        }
    }
}
