#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The decoded content of a log entry.
public enum LogChange: Sendable, Equatable {
    case keyTablesCreated(KeyTablesCreated)
    case authorityInstalled(AuthorityInstalled)
    case deviceProvisioned(DeviceProvisioned)
    case deviceRevoked(DeviceRevoked)
    case deviceReinstated(DeviceReinstated)
    case apiKeyCreated(APIKeyCreated)
    case apiKeyRevoked(APIKeyRevoked)
    case keyTableRetired(KeyTableRetired)
    case crlIssued(CRLIssued)

    /// Key tables came into being. Master keys travel sealed under the cluster KEK, never in clear.
    public struct KeyTablesCreated: Codable, Sendable, Equatable {
        public struct Table: Codable, Sendable, Equatable {
            public var id: Int
            /// `KeyEncryptionKey.seal(master, label: "key_table:<id>")`, hex.
            public var sealedMasterKey: String
            public init(id: Int, sealedMasterKey: String) { self.id = id; self.sealedMasterKey = sealedMasterKey }
        }
        public var tables: [Table]
        public init(tables: [Table]) { self.tables = tables }
    }

    /// The CA certificates every node verifies device certificates against (private keys stay with the leader).
    public struct AuthorityInstalled: Codable, Sendable, Equatable {
        public var rootPEM: String
        public var intermediatePEM: String
        public init(rootPEM: String, intermediatePEM: String) { self.rootPEM = rootPEM; self.intermediatePEM = intermediatePEM }
    }

    /// A camera was provisioned. Contains no secret: the device's private key is never stored.
    public struct DeviceProvisioned: Codable, Sendable, Equatable {
        public var serial: String
        public var family: String
        public var nucHash: String
        public var tableIDs: [Int]
        public var certificatePEM: String
        public var publicKeyPEM: String
        public init(serial: String, family: String, nucHash: String, tableIDs: [Int], certificatePEM: String, publicKeyPEM: String) {
            self.serial = serial
            self.family = family
            self.nucHash = nucHash
            self.tableIDs = tableIDs
            self.certificatePEM = certificatePEM
            self.publicKeyPEM = publicKeyPEM
        }
    }

    public struct DeviceRevoked: Codable, Sendable, Equatable {
        public var serial: String
        public var reason: String
        public init(serial: String, reason: String) { self.serial = serial; self.reason = reason }
    }

    public struct DeviceReinstated: Codable, Sendable, Equatable {
        public var serial: String
        public init(serial: String) { self.serial = serial }
    }

    /// An API key; only its SHA-256 travels.
    public struct APIKeyCreated: Codable, Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var role: Role
        public var keyHash: String
        public init(id: Int64, name: String, role: Role, keyHash: String) {
            self.id = id
            self.name = name
            self.role = role
            self.keyHash = keyHash
        }
    }

    public struct APIKeyRevoked: Codable, Sendable, Equatable {
        public var id: Int64
        public init(id: Int64) { self.id = id }
    }

    /// A key table is retired: never assigned again; its tokens FAIL from `effectiveMillis` on.
    public struct KeyTableRetired: Codable, Sendable, Equatable {
        public var id: Int
        /// When tokens under the table start to FAIL, ms since 1970 (the leader's clock + grace).
        public var effectiveMillis: Int64
        public init(id: Int, effectiveMillis: Int64) { self.id = id; self.effectiveMillis = effectiveMillis }
    }

    /// A certificate revocation list signed by the intermediate CA (only the leader holds its key);
    /// every node serves the latest one.
    public struct CRLIssued: Codable, Sendable, Equatable {
        /// The CRL number (increasing).
        public var number: Int64
        public var thisUpdateMillis: Int64
        public var nextUpdateMillis: Int64
        /// The DER of the CRL, base64.
        public var der: String
        public init(number: Int64, thisUpdateMillis: Int64, nextUpdateMillis: Int64, der: String) {
            self.number = number
            self.thisUpdateMillis = thisUpdateMillis
            self.nextUpdateMillis = nextUpdateMillis
            self.der = der
        }
    }

    public var kind: LogEntryKind {
        switch self {
        case .keyTablesCreated: .keyTablesCreated
        case .authorityInstalled: .authorityInstalled
        case .deviceProvisioned: .deviceProvisioned
        case .deviceRevoked: .deviceRevoked
        case .deviceReinstated: .deviceReinstated
        case .apiKeyCreated: .apiKeyCreated
        case .apiKeyRevoked: .apiKeyRevoked
        case .keyTableRetired: .keyTableRetired
        case .crlIssued: .crlIssued
        }
    }

    /// Canonical JSON (sorted keys) of the change.
    public func encodedPayload() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        switch self {
        case .keyTablesCreated(let v): data = try! encoder.encode(v)
        case .authorityInstalled(let v): data = try! encoder.encode(v)
        case .deviceProvisioned(let v): data = try! encoder.encode(v)
        case .deviceRevoked(let v): data = try! encoder.encode(v)
        case .deviceReinstated(let v): data = try! encoder.encode(v)
        case .apiKeyCreated(let v): data = try! encoder.encode(v)
        case .apiKeyRevoked(let v): data = try! encoder.encode(v)
        case .keyTableRetired(let v): data = try! encoder.encode(v)
        case .crlIssued(let v): data = try! encoder.encode(v)
        }
        return Array(data)
    }

    static func decode(kind: LogEntryKind, payload: [UInt8]) throws(LogError) -> LogChange {
        let decoder = JSONDecoder()
        let data = Data(payload)
        do {
            switch kind {
            case .keyTablesCreated: return .keyTablesCreated(try decoder.decode(KeyTablesCreated.self, from: data))
            case .authorityInstalled: return .authorityInstalled(try decoder.decode(AuthorityInstalled.self, from: data))
            case .deviceProvisioned: return .deviceProvisioned(try decoder.decode(DeviceProvisioned.self, from: data))
            case .deviceRevoked: return .deviceRevoked(try decoder.decode(DeviceRevoked.self, from: data))
            case .deviceReinstated: return .deviceReinstated(try decoder.decode(DeviceReinstated.self, from: data))
            case .apiKeyCreated: return .apiKeyCreated(try decoder.decode(APIKeyCreated.self, from: data))
            case .apiKeyRevoked: return .apiKeyRevoked(try decoder.decode(APIKeyRevoked.self, from: data))
            case .keyTableRetired: return .keyTableRetired(try decoder.decode(KeyTableRetired.self, from: data))
            case .crlIssued: return .crlIssued(try decoder.decode(CRLIssued.self, from: data))
            }
        } catch {
            throw LogError(.malformedPayload, seq: 0, "payload is not a valid \(kind.rawValue) change")
        }
    }
}
