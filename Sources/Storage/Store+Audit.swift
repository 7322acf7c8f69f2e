import SMAErrors
package import Core
package import NodeServices
package import SMAPostgres
import Logging
import Foundation

extension Store {
    /// One audit row per audited entry, with one statement.
    package static func insertAudit(_ c: PostgresConnection, _ actor: AuditActor, _ items: [(entry: LogEntry, change: LogChange)]) throws {
        var actions: [String] = [], targets: [String] = [], details: [String] = [], seqs: [Int64] = []
        for item in items {
            guard let d = item.change.audit else { continue }
            actions.append(d.action)
            targets.append(d.target ?? "")
            // The change's own detail (e.g. a revocation reason), then the write's note (e.g. who counted an abuse).
            details.append([d.detail, actor.note].compactMap { $0 }.joined(separator: "; "))
            seqs.append(item.entry.seq)
        }
        guard !actions.isEmpty else { return }
        do {
            _ = try c.query("""
                INSERT INTO audit_log (api_key_id, api_key_name, role, action, target, detail, log_seq, client_address, node_id)
                SELECT \(actor.apiKeyID)::bigint, \(actor.name), \(actor.role)::text, a, NULLIF(t, ''), NULLIF(d, ''), s,
                       \(actor.clientAddress)::text, \(actor.nodeID)
                FROM unnest(\(actions), \(targets), \(details), \(seqs)) AS x(a, t, d, s)
                """)
        } catch {
            throw AuditFailure(underlying: error)
        }
    }

    /// The audit insert failed: the write it belongs to must not happen.
    package struct AuditFailure: CodedError {
        package var underlying: PostgresError
        package var file: String
        package var line: Int
        package init(underlying: PostgresError, file: String = #fileID, line: Int = #line) {
            self.underlying = underlying
            self.file = file
            self.line = line
        }
        package var code: String { "audit_failed" }
        package var reason: String { "audit record could not be stored: \(underlying)" }
    }

    /// A page of the audit trail by id: oldest first (`id > after`) or newest first (`id < after`).
    package static func audit(_ c: PostgresConnection, after: Int64?, limit: Int, newestFirst: Bool) throws -> [AuditRecord] {
        let columns = """
            id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), api_key_id, api_key_name, role, action, target,
            detail, log_seq, client_address, node_id
            """
        let rows = newestFirst
            ? try c.query("SELECT \(unsafeSQL: columns) FROM audit_log WHERE (\(after)::bigint IS NULL OR id < \(after)) ORDER BY id DESC LIMIT \(limit)")
            : try c.query("SELECT \(unsafeSQL: columns) FROM audit_log WHERE (\(after)::bigint IS NULL OR id > \(after)) ORDER BY id LIMIT \(limit)")
        return try rows.map { row in
            AuditRecord(id: try row.decode(0), at: try row.decode(1), api_key_id: try row.decode(2), api_key_name: try row.decode(3),
                        role: try row.decode(4), action: try row.decode(5), target: try row.decode(6), detail: try row.decode(7),
                        log_seq: try row.decode(8), client_address: try row.decode(9), node_id: try row.decode(10))
        }
    }
}
