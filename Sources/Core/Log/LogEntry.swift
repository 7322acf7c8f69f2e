import Crypto
public import SMAErrors

/// One entry of the registration log (docs/ARCHITECTURE.md §2): a numbered, signed change.
///
/// `payload` is the JSON of the change exactly as signed; verifiers check the
/// signature over these bytes and only then decode them. Entries form a hash chain:
/// each signs the hash of the one before it, so a run of entries that links up to a
/// trusted hash is authenticated by the signature of its last entry.
public struct LogEntry: Sendable, Equatable {
    /// Position in the log: 1, 2, 3, … without gaps.
    public var seq: Int64
    /// `hash` of the entry at `seq - 1` (32 zero bytes for the first entry).
    public var previousHash: [UInt8]
    /// Leader epoch that wrote the entry.
    public var epoch: Int64
    /// Commit time, milliseconds since 1970 (the leader's clock; informational).
    public var timestampMillis: Int64
    public var kind: LogEntryKind
    public var payload: [UInt8]
    /// Ed25519 signature over `signedBytes`.
    public var signature: [UInt8]

    public init(seq: Int64, previousHash: [UInt8], epoch: Int64, timestampMillis: Int64, kind: LogEntryKind, payload: [UInt8], signature: [UInt8] = []) {
        self.seq = seq
        self.previousHash = previousHash
        self.epoch = epoch
        self.timestampMillis = timestampMillis
        self.kind = kind
        self.payload = payload
        self.signature = signature
    }

    /// The bytes the signature covers: a domain tag, then every field, length-prefixed.
    public var signedBytes: [UInt8] {
        var out: [UInt8] = Array("birthmark-sma-log-v2\0".utf8)
        out.reserveCapacity(payload.count + 128)
        func put(_ v: Int64) { withUnsafeBytes(of: v.bigEndian) { out += $0 } }
        func put(_ bytes: [UInt8]) { put(Int64(bytes.count)); out += bytes }
        put(seq)
        put(previousHash)
        put(epoch)
        put(timestampMillis)
        put(Array(kind.rawValue.utf8))
        put(payload)
        return out
    }

    /// The chain hash of this entry: SHA-256 of its signed bytes.
    public var hash: [UInt8] { Array(SHA256.hash(data: signedBytes)) }

    /// The `previousHash` of the first entry.
    public static let genesisHash = [UInt8](repeating: 0, count: 32)

    /// Decodes the payload (after the signature has been verified).
    public func change() throws(LogError) -> LogChange {
        try LogChange.decode(kind: kind, payload: payload)
    }
}

/// What a log entry changes.
public enum LogEntryKind: String, Sendable, Codable, CaseIterable {
    case keyTablesCreated = "key_tables_created"
    case authorityInstalled = "authority_installed"
    case deviceProvisioned = "device_provisioned"
    case deviceRevoked = "device_revoked"
    case deviceReinstated = "device_reinstated"
    case apiKeyCreated = "api_key_created"
    case apiKeyRevoked = "api_key_revoked"
    case keyTableRetired = "key_table_retired"
    case crlIssued = "crl_issued"
    case nodeRevoked = "node_revoked"

    /// The kind's number in `registration_log.kind` (a smallint: 2 bytes a row instead of the name's 20;
    /// docs/ARCHITECTURE.md §2.2.1). Never renumber: stored rows keep these.
    public var storageCode: Int {
        switch self {
        case .keyTablesCreated: 1
        case .authorityInstalled: 2
        case .deviceProvisioned: 3
        case .deviceRevoked: 4
        case .deviceReinstated: 5
        case .apiKeyCreated: 6
        case .apiKeyRevoked: 7
        case .keyTableRetired: 8
        case .crlIssued: 9
        case .nodeRevoked: 10
        }
    }

    /// The kind stored as `code`; nil for a number no kind has.
    public init?(storageCode code: Int) {
        guard let kind = Self.allCases.first(where: { $0.storageCode == code }) else { return nil }
        self = kind
    }
}

/// A log problem: refused entries are reported, never applied.
public struct LogError: CodedError {
    public enum Code: String, Sendable, CustomStringConvertible {
        case badSignature = "bad_signature"
        case malformedPayload = "malformed_payload"
        case gap
        case conflict
        public var description: String { rawValue }
    }
    public var code: Code
    public var seq: Int64
    public var reason: String
    public var file: String
    public var line: Int
    public init(_ code: Code, seq: Int64, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.seq = seq
        self.reason = reason
        self.file = file
        self.line = line
    }
    public var description: String { "log entry \(seq): \(code.rawValue): \(reason)" }
}
