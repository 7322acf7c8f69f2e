import Core
import Foundation
import SMAPostgres

/// Who asked for a write, as the audit trail records it: the API key (id and name, never the key), its role,
/// the client address of the original request and the node that received it.
struct AuditActor: Sendable, Equatable {
    /// nil for operator commands run against the database (`sma-node init`, `sma-node api-key create`).
    var apiKeyID: Int64?
    var name: String
    var role: String?
    var clientAddress: String?
    var nodeID: String
    /// Extra context for every row of this write (e.g. `bulk of 20`), when the change itself has none.
    var note: String?

    init(apiKeyID: Int64?, name: String, role: String?, clientAddress: String?, nodeID: String, note: String? = nil) {
        self.apiKeyID = apiKeyID
        self.name = name
        self.role = role
        self.clientAddress = clientAddress
        self.nodeID = nodeID
        self.note = note
    }

    /// The leader's automatic revocation of a device whose cluster-wide validation count crossed the abuse threshold.
    static func abuseDetector(nodeID: String) -> AuditActor {
        AuditActor(apiKeyID: nil, name: "abuse-detector", role: nil, clientAddress: nil, nodeID: nodeID)
    }

    /// An operator command run on this machine against the database.
    static func command(_ name: String) -> AuditActor {
        AuditActor(apiKeyID: nil, name: name, role: nil, clientAddress: "local", nodeID: ProcessInfo.processInfo.hostName)
    }
}

extension Store {
    /// What an audit row says about one change: action, target, detail. nil for changes that are not actions
    /// (a CRL re-issued as a consequence of a revocation or by the schedule).
    static func auditDescription(_ change: LogChange) -> (action: String, target: String?, detail: String?)? {
        switch change {
        case .keyTablesCreated(let v):
            let ids = v.tables.map(\.id)
            return ("key_tables.create", ids.count == 1 ? "key table \(ids[0])" : "\(ids.count) key tables (\(ids.min() ?? 0)-\(ids.max() ?? 0))", nil)
        case .authorityInstalled: return ("authority.install", "root and intermediate CA certificates", nil)
        case .deviceProvisioned(let d): return ("device.provision", d.serial, nil)
        case .deviceRevoked(let r): return ("device.revoke", r.serial, r.reason)
        case .deviceReinstated(let r): return ("device.reinstate", r.serial, nil)
        case .apiKeyCreated(let k): return ("api_key.create", "api key #\(k.id) '\(k.name)'", "role \(k.role.rawValue)")
        case .apiKeyRevoked(let k): return ("api_key.revoke", "api key #\(k.id)", nil)
        case .keyTableRetired(let r):
            let at = Date(timeIntervalSince1970: Double(r.effectiveMillis) / 1000)
            return ("key_table.retire", "key table \(r.id)", "tokens fail from \(at.ISO8601Format())")
        case .crlIssued: return nil
        }
    }

    /// One audit row per audited entry, with one statement.
    static func insertAudit(_ c: PostgresConnection, _ actor: AuditActor, _ items: [(entry: LogEntry, change: LogChange)]) throws {
        var actions: [String] = [], targets: [String] = [], details: [String] = [], seqs: [Int64] = []
        for item in items {
            guard let d = auditDescription(item.change) else { continue }
            actions.append(d.action)
            targets.append(d.target ?? "")
            details.append(d.detail ?? actor.note ?? "")
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
    struct AuditFailure: Error, CustomStringConvertible {
        var underlying: PostgresError
        var description: String { "audit record could not be stored: \(underlying)" }
    }

    /// One audit row as `GET /api/v1/audit` shows it.
    struct AuditRecord: Codable, Sendable {
        var id: Int64
        var at: String
        var api_key_id: Int64?
        var api_key_name: String
        var role: String?
        var action: String
        var target: String?
        var detail: String?
        var log_seq: Int64?
        var client_address: String?
        var node_id: String
    }

    /// A page of the audit trail by id: oldest first (`id > after`) or newest first (`id < after`).
    static func audit(_ c: PostgresConnection, after: Int64?, limit: Int, newestFirst: Bool) throws -> [AuditRecord] {
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
