package import Core
import Foundation
import Logging

/// What applying a batch of replicated entries did.
package struct ReplicatedBatch: Sendable {
    /// Entries newly written to this database, in seq order.
    package var applied: [LogEntry] = []
    /// Entries this database already had (same signature).
    package var duplicates: [LogEntry] = []
    /// Refused: conflicting entry for an existing seq.
    package var conflicts: [Int64] = []
    /// The first seq missing before the rest of the batch could apply.
    package var gapAt: Int64?
    package var head: Int64 = 0
    package init() {}
}

/// The lease row as stored.
package struct LeaseInfo: Sendable {
    package var holder: String?
    package var epoch: Int64
    package var secondsLeft: Double
    package init(holder: String?, epoch: Int64, secondsLeft: Double) {
        self.holder = holder
        self.epoch = epoch
        self.secondsLeft = secondsLeft
    }
}

/// A revoked device's certificate, as a CRL lists it.
package struct RevokedCertificate: Sendable {
    package var serial: String
    package var certificatePEM: String
    package var revokedMillis: Int64
    package var reason: String?
    package init(serial: String, certificatePEM: String, revokedMillis: Int64, reason: String?) {
        self.serial = serial
        self.certificatePEM = certificatePEM
        self.revokedMillis = revokedMillis
        self.reason = reason
    }
}

/// Everything the in-memory state is built from, read in one consistent snapshot.
package struct StoreSnapshot: Sendable {
    package var head: Int64
    package var tables: [SealedKeyTable]
    package var authority: (rootPEM: String, intermediatePEM: String)?
    package var apiKeys: [(hash: Bytes32, principal: Principal, notAfterMillis: Int64?)]
    package var index: DeviceIndex
    package var logPublicKey: [UInt8]?
    package var crl: StoredCRL?
    /// Ids of revoked nodes.
    package var revokedNodes: Set<String>
    /// The cluster's NUC digest key, sealed under the KEK (label `nuc_digest_key`); nil before key tables exist.
    package var sealedNUCDigestKey: [UInt8]?
    package init(head: Int64, tables: [SealedKeyTable], authority: (rootPEM: String, intermediatePEM: String)?,
                 apiKeys: [(hash: Bytes32, principal: Principal, notAfterMillis: Int64?)], index: DeviceIndex, logPublicKey: [UInt8]?, crl: StoredCRL?,
                 revokedNodes: Set<String> = [], sealedNUCDigestKey: [UInt8]? = nil) {
        self.revokedNodes = revokedNodes
        self.head = head
        self.tables = tables
        self.authority = authority
        self.apiKeys = apiKeys
        self.index = index
        self.logPublicKey = logPublicKey
        self.crl = crl
        self.sealedNUCDigestKey = sealedNUCDigestKey
    }
}

/// A key table as stored: its sealed master key and, when retired or retiring, when its tokens start to FAIL.
package struct SealedKeyTable: Sendable {
    package var id: Int
    package var sealed: [UInt8]
    package var retiredMillis: Int64?
    package init(id: Int, sealed: [UInt8], retiredMillis: Int64?) {
        self.id = id
        self.sealed = sealed
        self.retiredMillis = retiredMillis
    }
}

/// The latest CRL as stored.
package struct StoredCRL: Sendable {
    package var number: Int64
    package var thisUpdateMillis: Int64
    package var nextUpdateMillis: Int64
    package var der: [UInt8]
    package init(number: Int64, thisUpdateMillis: Int64, nextUpdateMillis: Int64, der: [UInt8]) {
        self.number = number
        self.thisUpdateMillis = thisUpdateMillis
        self.nextUpdateMillis = nextUpdateMillis
        self.der = der
    }
}

/// A key table as `GET /api/v1/key-tables` shows it.
package struct KeyTableInfo: Codable, Sendable {
    package var id: Int
    /// `active`, `retiring` (no longer assigned; its tokens PASS until `retire_at`) or `retired` (its tokens FAIL).
    package var state: String
    package var retire_at: String?
    package var device_count: Int
    package init(id: Int, state: String, retire_at: String?, device_count: Int) {
        self.id = id
        self.state = state
        self.retire_at = retire_at
        self.device_count = device_count
    }
}

/// A device as `GET /api/v1/devices/{serial}` shows it (no secrets: no NUC hash, no keys).
package struct DeviceDetails: Codable, Sendable {
    package var device_serial: String
    package var device_family: String
    package var table_assignments: [Int]
    package var device_certificate: String
    package var device_public_key: String
    package var revoked: Bool
    package var revocation_reason: String?
    package var provisioned_at: String
    package var revoked_at: String?
    package var seq: Int64
    package init(device_serial: String, device_family: String, table_assignments: [Int], device_certificate: String, device_public_key: String,
                 revoked: Bool, revocation_reason: String?, provisioned_at: String, revoked_at: String?, seq: Int64) {
        self.device_serial = device_serial
        self.device_family = device_family
        self.table_assignments = table_assignments
        self.device_certificate = device_certificate
        self.device_public_key = device_public_key
        self.revoked = revoked
        self.revocation_reason = revocation_reason
        self.provisioned_at = provisioned_at
        self.revoked_at = revoked_at
        self.seq = seq
    }
}

/// The database's counts (`GET /stats`).
package struct DatabaseStats: Codable, Sendable {
    package var devices: Int
    package var revoked_devices: Int
    package var devices_by_family: [String: Int]
    package var key_tables: Int
    package var retired_key_tables: Int
    package var log_head_seq: Int64
    package init(devices: Int, revoked_devices: Int, devices_by_family: [String: Int], key_tables: Int, retired_key_tables: Int, log_head_seq: Int64) {
        self.devices = devices
        self.revoked_devices = revoked_devices
        self.devices_by_family = devices_by_family
        self.key_tables = key_tables
        self.retired_key_tables = retired_key_tables
        self.log_head_seq = log_head_seq
    }
}

/// An API key as `GET /api/v1/api-keys` shows it: never the key, never its hash.
package struct APIKeyRecord: Codable, Sendable, Equatable {
    package var id: Int64
    package var name: String
    package var role: String
    /// `active`, `expiring` (a rotated key in its grace, or an expiry set), `revoked` or `expired`.
    package var state: String
    package var created_at: String
    package var expires_at: String?
    package var revoked_at: String?
    package init(id: Int64, name: String, role: String, state: String, created_at: String, expires_at: String?, revoked_at: String?) {
        self.id = id
        self.name = name
        self.role = role
        self.state = state
        self.created_at = created_at
        self.expires_at = expires_at
        self.revoked_at = revoked_at
    }
}

/// The database's side of the memory/database agreement check (`/stats`), read in one snapshot.
package struct RevocationSnapshot: Sendable {
    /// The log head the snapshot reflects.
    package var headSeq: Int64
    package var devices: Int
    /// Every revoked device's serial, exactly as stored.
    package var revokedSerials: [String]
    package init(headSeq: Int64, devices: Int, revokedSerials: [String]) {
        self.headSeq = headSeq
        self.devices = devices
        self.revokedSerials = revokedSerials
    }
}

/// A revoked device as the status page lists it.
package struct Revocation: Codable, Sendable, Equatable {
    package var serial: String
    package var reason: String?
    package var revoked_at: String
    package init(serial: String, reason: String?, revoked_at: String) {
        self.serial = serial
        self.reason = reason
        self.revoked_at = revoked_at
    }
}

/// One audit row as `GET /api/v1/audit` shows it.
package struct AuditRecord: Codable, Sendable {
    package var id: Int64
    package var at: String
    package var api_key_id: Int64?
    package var api_key_name: String
    package var role: String?
    package var action: String
    package var target: String?
    package var detail: String?
    package var log_seq: Int64?
    package var client_address: String?
    package var node_id: String
    package init(id: Int64, at: String, api_key_id: Int64?, api_key_name: String, role: String?, action: String, target: String?,
                 detail: String?, log_seq: Int64?, client_address: String?, node_id: String) {
        self.id = id
        self.at = at
        self.api_key_id = api_key_id
        self.api_key_name = api_key_name
        self.role = role
        self.action = action
        self.target = target
        self.detail = detail
        self.log_seq = log_seq
        self.client_address = client_address
        self.node_id = node_id
    }
}
