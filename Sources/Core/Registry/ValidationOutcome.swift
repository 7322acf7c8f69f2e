/// The answer to "is this token from a legitimate, provisioned, non-revoked camera?".
public enum ValidationOutcome: Sendable, Hashable {
    case pass
    case fail(FailureReason)

    public var isValid: Bool { self == .pass }

    /// The `message` field of the wire answer. Never echoes token bytes or NUC hashes.
    public var message: String {
        switch self {
        case .pass: return "Camera token is valid: device is provisioned and not revoked"
        case .fail(let reason): return reason.message
        }
    }
}

/// Why a token (or certificate bundle) FAILs. The raw value is the metric label.
public enum FailureReason: String, Error, Sendable, CaseIterable {
    case unknownTable = "unknown_table"
    case authenticationFailed = "authentication_failed"
    case unknownDevice = "unknown_device"
    case tableNotAssigned = "table_not_assigned"
    case revoked = "revoked"
    case tableRetired = "table_retired"
    case certificateUntrusted = "certificate_untrusted"
    case certificateExpired = "certificate_expired"
    case signatureInvalid = "signature_invalid"
    /// The answering node's knowledge of the log is older than `max_staleness_seconds` and `staleness_mode` is `fail`:
    /// it answers FAIL rather than a PASS that may be stale (docs/ARCHITECTURE.md §2.9).
    case stale = "stale"

    public var message: String {
        switch self {
        case .unknownTable: return "Token rejected: key table is not known to this authority"
        case .authenticationFailed: return "Token rejected: authentication tag does not verify"
        case .unknownDevice: return "Token rejected: device is not registered"
        case .tableNotAssigned: return "Token rejected: key table is not assigned to this device"
        case .revoked: return "Token rejected: device has been revoked"
        case .tableRetired: return "Token rejected: key table has been retired"
        case .certificateUntrusted: return "Certificate rejected: not issued by this authority"
        case .certificateExpired: return "Certificate rejected: outside its validity period"
        case .signatureInvalid: return "Bundle rejected: signature does not verify with the camera certificate"
        case .stale: return "Rejected: this node has heard nothing current from the cluster leader for longer than max_staleness_seconds, so its registry may be stale; retry on another node"
        }
    }
}
