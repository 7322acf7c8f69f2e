package import Core
import NodeServices
package import SMAPostgres
package import Logging
import Crypto
import Foundation

/// Converts a database written before NUC digests (schema version 6, docs/ARCHITECTURE.md §3.2 "Migrating to NUC
/// digests"): afterwards no table holds a raw NUC hash. Runs at every start, after the schema migrations, and does
/// nothing once done (the `devices.nuc_hash` column is gone).
///
/// - The write region's database (it holds the log-signing key) is rewritten in one transaction: a new random NUC
///   digest key, sealed under the KEK; `devices.nuc_digest` from each row's NUC hash; every `device_provisioned`
///   payload with `nucDigest` instead of `nucHash`, the `key_tables_created` payloads with the sealed digest key; and
///   the whole log signed and chained again (same seqs, epochs, times and kinds). Nothing acknowledged is lost: every
///   entry keeps its seq and meaning.
/// - A replica's database (no signing key) cannot re-sign: its log-derived tables are emptied and it refills from
///   peers, from the rewritten log (entries of the old generation are refused, see `SQLLogApplier`).
package enum NUCDigestMigration {
    /// What the migration did.
    package enum Outcome: Equatable, Sendable {
        case nothingToDo
        /// An empty or new database: only the schema changed.
        case schemaOnly
        case rewritten(entries: Int, devices: Int)
        case replicaReset(entries: Int)
    }

    static let pageSize = 5_000

    @discardableResult
    package static func run(_ c: PostgresConnection, kek: KeyEncryptionKey, logger: Logger,
                            progress: (String) -> Void = { _ in }) throws -> Outcome {
        try c.transaction { c -> Outcome in
            try c.query("SELECT pg_advisory_xact_lock(7261001)")
            let pending = try c.query("""
                SELECT count(*) FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'devices' AND column_name = 'nuc_hash'
                """).first!.decode(0, as: Int.self) > 0
            guard pending else { return .nothingToDo }
            let entries = try Store.logHead(c)
            var outcome = Outcome.schemaOnly
            if entries > 0, try Store.meta(c, Store.MetaKey.nucDigestKey) == nil {
                if try Store.sealedSecret(c, Store.SecretName.logSigningKey) != nil {
                    outcome = try rewrite(c, kek: kek, head: entries, progress: progress)
                } else {
                    try c.execute(script: """
                        TRUNCATE registration_log, key_tables, authority, devices, api_keys, crl;
                        UPDATE log_head SET seq = 0, hash = '\\x0000000000000000000000000000000000000000000000000000000000000000';
                        """)
                    outcome = .replicaReset(entries: Int(entries))
                }
            }
            try c.execute(script: """
                ALTER TABLE devices DROP COLUMN nuc_hash;
                ALTER TABLE devices ALTER COLUMN nuc_digest SET NOT NULL;
                """)
            switch outcome {
            case .rewritten(let n, let d):
                logger.notice("NUC hashes replaced by NUC digests; the registration log was signed again",
                              metadata: ["log.entries": "\(n)", "devices": "\(d)"])
            case .replicaReset(let n):
                logger.notice("replica database held NUC hashes: emptied, it refills from peers (rewritten log)",
                              metadata: ["log.entries": "\(n)"])
            default: break
            }
            return outcome
        }
    }

    /// The authoritative database: digest key, devices, log payloads, signatures and chain, in the caller's transaction.
    private static func rewrite(_ c: PostgresConnection, kek: KeyEncryptionKey, head: Int64, progress: (String) -> Void) throws -> Outcome {
        // Writers hold this row lock; taking it first keeps a running leader from appending meanwhile.
        _ = try c.query("SELECT seq FROM log_head WHERE id = 1 FOR UPDATE")
        let signer = try Store.logSigner(c, kek: kek)
        var key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let digester = NUCDigester(key: Bytes32(key)!)
        let sealedKey = kek.seal(key, label: NUCDigester.keyLabel)
        key.withUnsafeMutableBytes { TokenCipher.cleanse($0.baseAddress!, count: $0.count) }
        try Store.setMeta(c, Store.MetaKey.nucDigestKey, sealedKey)

        // Devices: one UPDATE per page, the raw column cleared in the same statement.
        var devices = 0
        var after = ""
        while true {
            let rows = try c.query("SELECT serial, nuc_hash FROM devices WHERE serial > \(after) ORDER BY serial LIMIT \(pageSize)")
            guard let last = rows.last else { break }
            var serials: [String] = [], digests: [[UInt8]] = []
            for row in rows {
                serials.append(try row.decode(0, as: String.self))
                guard let nuc = NUCHash(bytes: try row.decode(1, as: [UInt8].self)) else {
                    throw NodeError(.internal, "a device row holds a NUC hash that is not 32 bytes")
                }
                digests.append(digester.digest(nuc).bytes)
            }
            try c.query("""
                UPDATE devices SET nuc_digest = x.d, nuc_hash = NULL FROM unnest(\(serials), \(digests)) AS x(s, d) WHERE serial = x.s
                """)
            devices += rows.count
            after = try last.decode(0, as: String.self)
        }

        // The log: new payloads where they held NUC hashes or key tables, then every entry signed again, in order.
        var previous = LogEntry.genesisHash
        var done: Int64 = 0
        while done < head {
            let page = try Store.entries(c, after: done, limit: pageSize)
            guard !page.isEmpty else { break }
            var rewritten: [LogEntry] = []
            rewritten.reserveCapacity(page.count)
            for old in page {
                var entry = old
                entry.payload = try newPayload(old, digester: digester, sealedKey: sealedKey)
                entry.previousHash = previous
                entry = signer.sign(entry)
                previous = entry.hash
                rewritten.append(entry)
            }
            try c.query("DELETE FROM registration_log WHERE seq BETWEEN \(page.first!.seq) AND \(page.last!.seq)")
            try Store.insertEntries(c, rewritten)
            done = page.last!.seq
            if done % 50_000 < Int64(page.count) || done == head { progress("  log entries signed again: \(done)/\(head)") }
        }
        try c.query("UPDATE log_head SET hash = \(previous) WHERE id = 1")
        return .rewritten(entries: Int(done), devices: devices)
    }

    /// The payload of `entry` in the current format (unchanged for kinds that never held a NUC hash).
    static func newPayload(_ entry: LogEntry, digester: NUCDigester, sealedKey: [UInt8]) throws -> [UInt8] {
        switch entry.kind {
        case .deviceProvisioned:
            guard var object = try JSONSerialization.jsonObject(with: Data(entry.payload)) as? [String: Any] else {
                throw NodeError(.internal, "log entry \(entry.seq) is not a JSON object")
            }
            if let hex = object.removeValue(forKey: "nucHash") {
                guard let text = hex as? String, let nuc = NUCHash(hex: text) else {
                    throw NodeError(.internal, "log entry \(entry.seq) holds a malformed NUC hash")
                }
                object["nucDigest"] = digester.digest(nuc).hex
            }
            let json = try JSONSerialization.data(withJSONObject: object)
            let change = try JSONDecoder().decode(LogChange.DeviceProvisioned.self, from: json)
            return LogChange.deviceProvisioned(change).encodedPayload()
        case .keyTablesCreated:
            var change = try JSONDecoder().decode(LogChange.KeyTablesCreated.self, from: Data(entry.payload))
            change.sealedNUCDigestKey = sealedKey
            return LogChange.keyTablesCreated(change).encodedPayload()
        default:
            return entry.payload
        }
    }
}
