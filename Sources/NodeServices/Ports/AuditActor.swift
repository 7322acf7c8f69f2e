import Core
import Foundation
import Logging

/// Who asked for a write, as the audit trail records it: the API key (id and name, never the key), its role,
/// the client address of the original request and the node that received it.
package struct AuditActor: Sendable, Equatable {
    /// nil for operator commands run against the database (`sma-node init`, `sma-node api-key create`).
    package var apiKeyID: Int64?
    package var name: String
    package var role: String?
    package var clientAddress: String?
    package var nodeID: String
    /// Extra context for every row of this write (e.g. `bulk of 20`), when the change itself has none.
    package var note: String?

    package init(apiKeyID: Int64?, name: String, role: String?, clientAddress: String?, nodeID: String, note: String? = nil) {
        self.apiKeyID = apiKeyID
        self.name = name
        self.role = role
        self.clientAddress = clientAddress
        self.nodeID = nodeID
        self.note = note
    }

    /// The leader's automatic revocation of a device whose cluster-wide validation count crossed the abuse threshold.
    package static func abuseDetector(nodeID: String) -> AuditActor {
        AuditActor(apiKeyID: nil, name: "abuse-detector", role: nil, clientAddress: nil, nodeID: nodeID)
    }

    /// An operator command run on this machine against the database.
    package static func command(_ name: String) -> AuditActor {
        AuditActor(apiKeyID: nil, name: name, role: nil, clientAddress: "local", nodeID: ProcessInfo.processInfo.hostName)
    }
}
