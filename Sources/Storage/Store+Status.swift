import Core
package import NodeServices
package import SMAPostgres
import Logging

extension Store {

    /// The most recently revoked devices (currently revoked), newest first.
    package static func recentRevocations(_ c: PostgresConnection, limit: Int) throws -> [Revocation] {
        try c.query("""
            SELECT serial, revocation_reason, to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
            FROM devices WHERE revoked AND revoked_at IS NOT NULL ORDER BY revoked_at DESC, serial LIMIT \(limit)
            """).map { Revocation(serial: try $0.decode(0), reason: try $0.decode(1), revoked_at: try $0.decode(2)) }
    }
}
