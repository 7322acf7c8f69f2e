import Core
import NodeServices
package import SMAPostgres
import Logging

extension Store {
    /// Reinstatements written at or after `sinceMillis` (log time): serial, seq and time, in seq order.
    /// Abuse detection replays them at start so counts reported before a reinstatement stay ignored after a restart.
    /// Served by the partial index `registration_log_reinstatements` (migration 3).
    package static func reinstatements(_ c: PostgresConnection, sinceMillis: Int64) throws -> [(serial: String, seq: Int64, millis: Int64)] {
        try c.query("""
            SELECT seq, epoch, created_ms, payload, signature, previous_hash FROM registration_log
            WHERE kind = \(LogEntryKind.deviceReinstated.storageCode) AND created_ms >= \(sinceMillis) ORDER BY seq
            """).compactMap { row in
            let entry = LogEntry(seq: try row.decode(0), previousHash: try row.decode(5), epoch: try row.decode(1), timestampMillis: try row.decode(2),
                                 kind: .deviceReinstated, payload: try row.decode(3), signature: try row.decode(4))
            guard case .deviceReinstated(let r)? = try? entry.change() else { return nil }
            return (r.serial, entry.seq, entry.timestampMillis)
        }
    }
}
