#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1
import X509
import Crypto

/// The decoded content of a log entry, in checked types.
///
/// A payload is decoded exactly once (`LogEntry.change()`, after its signature is verified): NUC hashes, key-table
/// triples, key hashes, sealed keys and DER documents are checked there, so nothing downstream parses them again.
/// The JSON on the wire (and under every signature) is unchanged: hex, PEM and base64 strings with the same keys.
///
/// Adding a change kind touches this file (the case, its payload type, `kind`, `encodedPayload`, `decode`,
/// `audit`, `apply(to:at:)`), `LogEntryKind`, and the two `LogApplier`s (memory and SQL): see docs/ARCHITECTURE.md §7.
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
    case nodeRevoked(NodeRevoked)

    /// Key tables came into being. Master keys travel sealed under the cluster KEK, never in clear; so does the
    /// cluster's NUC digest key (`sealedNUCDigestKey`, label `nuc_digest_key`; absent only in logs from before NUC
    /// digests, docs/ARCHITECTURE.md §3.2).
    public struct KeyTablesCreated: Codable, Sendable, Equatable {
        public struct Table: Codable, Sendable, Equatable {
            public var id: Int
            /// `KeyEncryptionKey.seal(master, label: "key_table:<id>")` (hex on the wire).
            public var sealedMasterKey: [UInt8]
            public init(id: Int, sealedMasterKey: [UInt8]) { self.id = id; self.sealedMasterKey = sealedMasterKey }

            private enum CodingKeys: String, CodingKey { case id, sealedMasterKey }
            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                id = try c.decode(Int.self, forKey: .id)
                guard id >= 0 else { throw DecodingError.dataCorruptedError(forKey: .id, in: c, debugDescription: "negative key table id") }
                guard let sealed = Hex.decode(try c.decode(String.self, forKey: .sealedMasterKey)), !sealed.isEmpty else {
                    throw DecodingError.dataCorruptedError(forKey: .sealedMasterKey, in: c, debugDescription: "sealed master key is not hex")
                }
                sealedMasterKey = sealed
            }
            public func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(id, forKey: .id)
                try c.encode(Hex.encode(sealedMasterKey), forKey: .sealedMasterKey)
            }
        }
        public var tables: [Table]
        /// `KeyEncryptionKey.seal(digestKey, label: "nuc_digest_key")` (hex on the wire).
        public var sealedNUCDigestKey: [UInt8]?
        public init(tables: [Table], sealedNUCDigestKey: [UInt8]? = nil) {
            self.tables = tables
            self.sealedNUCDigestKey = sealedNUCDigestKey
        }

        private enum CodingKeys: String, CodingKey { case tables, sealedNUCDigestKey }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            tables = try c.decode([Table].self, forKey: .tables)
            if let hex = try c.decodeIfPresent(String.self, forKey: .sealedNUCDigestKey) {
                guard let sealed = Hex.decode(hex), !sealed.isEmpty else {
                    throw DecodingError.dataCorruptedError(forKey: .sealedNUCDigestKey, in: c, debugDescription: "sealed NUC digest key is not hex")
                }
                sealedNUCDigestKey = sealed
            }
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(tables, forKey: .tables)
            try c.encodeIfPresent(sealedNUCDigestKey.map { Hex.encode($0) }, forKey: .sealedNUCDigestKey)
        }
    }

    /// The CA certificates every node verifies device certificates against (private keys stay with the leader).
    public struct AuthorityInstalled: Codable, Sendable, Equatable {
        public var rootPEM: String
        public var intermediatePEM: String
        public init(rootPEM: String, intermediatePEM: String) { self.rootPEM = rootPEM; self.intermediatePEM = intermediatePEM }

        private enum CodingKeys: String, CodingKey { case rootPEM, intermediatePEM }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            rootPEM = try c.decode(String.self, forKey: .rootPEM)
            intermediatePEM = try c.decode(String.self, forKey: .intermediatePEM)
            for (pem, key) in [(rootPEM, CodingKeys.rootPEM), (intermediatePEM, .intermediatePEM)] {
                guard (try? PEMDocument(pemString: pem))?.discriminator == "CERTIFICATE" else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "not a PEM certificate")
                }
            }
        }
    }

    /// A camera was provisioned. Contains no secret: the device's private key is never stored, and its NUC hash only
    /// as `nucDigest`. The certificate is the one copy the cluster keeps (docs/ARCHITECTURE.md §2.2.1): the `devices` row
    /// points at this entry, and the device's public key is read from the certificate.
    ///
    /// Two payload forms decode: the compact binary form every new entry is written in (`binaryPayload`, the
    /// certificate as DER), and the JSON of earlier entries (`certificatePEM`, plus a `publicKeyPEM` that is ignored
    /// because the certificate holds the same key). Entries from before NUC digests carried `nucHash`: they decode
    /// only in the migration that rewrites them (docs/ARCHITECTURE.md §3.2) and are refused as malformed everywhere else.
    public struct DeviceProvisioned: Decodable, Sendable, Equatable {
        public var serial: String
        public var family: String
        public var nucDigest: NUCDigest
        public var tableIDs: KeyTableTriple
        /// The device certificate, DER.
        public var certificateDER: [UInt8]

        public init(serial: String, family: String, nucDigest: NUCDigest, tableIDs: KeyTableTriple, certificateDER: [UInt8]) {
            self.serial = serial
            self.family = family
            self.nucDigest = nucDigest
            self.tableIDs = tableIDs
            self.certificateDER = certificateDER
        }

        /// The certificate as PEM (what the provisioning file and the device routes carry).
        public var certificatePEM: String { PEMDocument(type: "CERTIFICATE", derBytes: certificateDER).pemString }

        /// The device's public key (PEM), read from the certificate; nil if the certificate holds no P-256 key.
        public var publicKeyPEM: String? {
            guard let cert = try? Certificate(derEncoded: certificateDER),
                  let key = P256.Signing.PublicKey(cert.publicKey) else { return nil }
            return key.pemRepresentation
        }

        private enum CodingKeys: String, CodingKey { case serial, family, nucDigest, tableIDs, certificatePEM }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            serial = try c.decode(String.self, forKey: .serial)
            family = try c.decode(String.self, forKey: .family)
            guard let digest = NUCDigest(hex: try c.decode(String.self, forKey: .nucDigest)) else {
                throw DecodingError.dataCorruptedError(forKey: .nucDigest, in: c, debugDescription: "NUC digest is not 64 hex digits")
            }
            nucDigest = digest
            guard let tables = KeyTableTriple(try c.decode([Int].self, forKey: .tableIDs)) else {
                throw DecodingError.dataCorruptedError(forKey: .tableIDs, in: c, debugDescription: "not three distinct key table ids")
            }
            tableIDs = tables
            guard let pem = try? PEMDocument(pemString: try c.decode(String.self, forKey: .certificatePEM)),
                  pem.discriminator == "CERTIFICATE" else {
                throw DecodingError.dataCorruptedError(forKey: .certificatePEM, in: c, debugDescription: "not a PEM certificate")
            }
            certificateDER = pem.derBytes
        }

        /// First byte of the binary form (a JSON payload starts with `{`).
        static let binaryFormat: UInt8 = 0x01

        /// The compact payload: `0x01`, then serial, family (each a big-endian UInt16 length and UTF-8), the 32-byte
        /// NUC digest, the three table ids (UInt16 each), and the certificate DER (UInt16 length and bytes).
        public var binaryPayload: [UInt8] {
            var out: [UInt8] = [Self.binaryFormat]
            out.reserveCapacity(48 + serial.utf8.count + family.utf8.count + certificateDER.count)
            func put16(_ v: Int) { out.append(UInt8(truncatingIfNeeded: v >> 8)); out.append(UInt8(truncatingIfNeeded: v)) }
            func put(_ bytes: some Collection<UInt8>) { put16(bytes.count); out += bytes }
            put(serial.utf8)
            put(family.utf8)
            out += nucDigest.bytes
            for t in tableIDs { put16(t) }
            put(certificateDER)
            return out
        }

        /// Decodes the binary form; nil names nothing on purpose (the caller reports a malformed payload).
        init?(binaryPayload p: [UInt8]) {
            var i = 1
            guard p.first == Self.binaryFormat else { return nil }
            func take(_ n: Int) -> ArraySlice<UInt8>? {
                guard n >= 0, p.count - i >= n else { return nil }
                defer { i += n }
                return p[i..<(i + n)]
            }
            func u16() -> Int? { take(2).map { Int($0.first!) << 8 | Int($0.last!) } }
            func field() -> ArraySlice<UInt8>? { u16().flatMap { take($0) } }
            guard let s = field(), let serial = String(validating: s, as: UTF8.self), !serial.isEmpty,
                  let f = field(), let family = String(validating: f, as: UTF8.self),
                  let d = take(32), let digest = NUCDigest(bytes: Array(d)),
                  let a = u16(), let b = u16(), let t = u16(), let tables = KeyTableTriple([a, b, t]),
                  let der = field(), der.first == 0x30,
                  i == p.count else { return nil }
            self.init(serial: serial, family: family, nucDigest: digest, tableIDs: tables, certificateDER: Array(der))
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

    /// An API key; only its SHA-256 travels (hex on the wire). `expiresMillis`: refused from then on (absent: never).
    public struct APIKeyCreated: Codable, Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var role: Role
        public var keyHash: Bytes32
        public var expiresMillis: Int64?
        public init(id: Int64, name: String, role: Role, keyHash: Bytes32, expiresMillis: Int64? = nil) {
            self.id = id
            self.name = name
            self.role = role
            self.keyHash = keyHash
            self.expiresMillis = expiresMillis
        }

        private enum CodingKeys: String, CodingKey { case id, name, role, keyHash, expiresMillis }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(Int64.self, forKey: .id)
            name = try c.decode(String.self, forKey: .name)
            role = try c.decode(Role.self, forKey: .role)
            guard let hash = Bytes32(hex: try c.decode(String.self, forKey: .keyHash)) else {
                throw DecodingError.dataCorruptedError(forKey: .keyHash, in: c, debugDescription: "key hash is not 64 hex digits")
            }
            keyHash = hash
            expiresMillis = try c.decodeIfPresent(Int64.self, forKey: .expiresMillis)
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(name, forKey: .name)
            try c.encode(role, forKey: .role)
            try c.encode(keyHash.hex, forKey: .keyHash)
            try c.encodeIfPresent(expiresMillis, forKey: .expiresMillis)
        }
    }

    /// An API key is revoked: refused from `effectiveMillis` on (absent: from the entry's time; a rotation's old key
    /// stays valid for its grace).
    public struct APIKeyRevoked: Codable, Sendable, Equatable {
        public var id: Int64
        public var effectiveMillis: Int64?
        public init(id: Int64, effectiveMillis: Int64? = nil) {
            self.id = id
            self.effectiveMillis = effectiveMillis
        }
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
        /// The CRL, DER (base64 on the wire).
        public var der: [UInt8]
        public init(number: Int64, thisUpdateMillis: Int64, nextUpdateMillis: Int64, der: [UInt8]) {
            self.number = number
            self.thisUpdateMillis = thisUpdateMillis
            self.nextUpdateMillis = nextUpdateMillis
            self.der = der
        }

        private enum CodingKeys: String, CodingKey { case number, thisUpdateMillis, nextUpdateMillis, der }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            number = try c.decode(Int64.self, forKey: .number)
            thisUpdateMillis = try c.decode(Int64.self, forKey: .thisUpdateMillis)
            nextUpdateMillis = try c.decode(Int64.self, forKey: .nextUpdateMillis)
            guard let bytes = Data(base64Encoded: try c.decode(String.self, forKey: .der)), !bytes.isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: .der, in: c, debugDescription: "CRL is not base64")
            }
            der = Array(bytes)
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(number, forKey: .number)
            try c.encode(thisUpdateMillis, forKey: .thisUpdateMillis)
            try c.encode(nextUpdateMillis, forKey: .nextUpdateMillis)
            try c.encode(Data(der).base64EncodedString(), forKey: .der)
        }
    }

    /// A node is revoked for good: its peer certificate (any certificate naming its id) is refused by every peer,
    /// its gossip is ignored and it can never hold the lease again. Hardware that returns joins under a new id.
    public struct NodeRevoked: Codable, Sendable, Equatable {
        public var nodeID: String
        public var reason: String
        public init(nodeID: String, reason: String) {
            self.nodeID = nodeID
            self.reason = reason
        }

        private enum CodingKeys: String, CodingKey { case nodeID, reason }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            nodeID = try c.decode(String.self, forKey: .nodeID)
            guard !nodeID.isEmpty, nodeID.utf8.count <= 256 else {
                throw DecodingError.dataCorruptedError(forKey: .nodeID, in: c, debugDescription: "node id must be 1-256 bytes")
            }
            reason = try c.decode(String.self, forKey: .reason)
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
        case .nodeRevoked: .nodeRevoked
        }
    }

    /// Canonical JSON (sorted keys) of the change: the bytes the log signs.
    public func encodedPayload() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        switch self {
        case .keyTablesCreated(let v): data = try! encoder.encode(v)
        case .authorityInstalled(let v): data = try! encoder.encode(v)
        case .deviceProvisioned(let v): return v.binaryPayload
        case .deviceRevoked(let v): data = try! encoder.encode(v)
        case .deviceReinstated(let v): data = try! encoder.encode(v)
        case .apiKeyCreated(let v): data = try! encoder.encode(v)
        case .apiKeyRevoked(let v): data = try! encoder.encode(v)
        case .keyTableRetired(let v): data = try! encoder.encode(v)
        case .crlIssued(let v): data = try! encoder.encode(v)
        case .nodeRevoked(let v): data = try! encoder.encode(v)
        }
        return Array(data)
    }

    public static func decode(kind: LogEntryKind, payload: [UInt8]) throws(LogError) -> LogChange {
        let decoder = JSONDecoder()
        let data = Data(payload)
        do {
            switch kind {
            case .keyTablesCreated: return .keyTablesCreated(try decoder.decode(KeyTablesCreated.self, from: data))
            case .authorityInstalled: return .authorityInstalled(try decoder.decode(AuthorityInstalled.self, from: data))
            case .deviceProvisioned:
                if payload.first == DeviceProvisioned.binaryFormat {
                    guard let v = DeviceProvisioned(binaryPayload: payload) else { throw LogError(.malformedPayload, seq: 0, "") }
                    return .deviceProvisioned(v)
                }
                return .deviceProvisioned(try decoder.decode(DeviceProvisioned.self, from: data))
            case .deviceRevoked: return .deviceRevoked(try decoder.decode(DeviceRevoked.self, from: data))
            case .deviceReinstated: return .deviceReinstated(try decoder.decode(DeviceReinstated.self, from: data))
            case .apiKeyCreated: return .apiKeyCreated(try decoder.decode(APIKeyCreated.self, from: data))
            case .apiKeyRevoked: return .apiKeyRevoked(try decoder.decode(APIKeyRevoked.self, from: data))
            case .keyTableRetired: return .keyTableRetired(try decoder.decode(KeyTableRetired.self, from: data))
            case .crlIssued: return .crlIssued(try decoder.decode(CRLIssued.self, from: data))
            case .nodeRevoked: return .nodeRevoked(try decoder.decode(NodeRevoked.self, from: data))
            }
        } catch {
            throw LogError(.malformedPayload, seq: 0, "payload is not a valid \(kind.rawValue) change")
        }
    }

    /// Applies the change through `applier`: the one switch over change kinds that every store of state uses.
    public func apply(to applier: some LogApplier, at entry: LogEntry) throws {
        switch self {
        case .keyTablesCreated(let v): try applier.apply(v, at: entry)
        case .authorityInstalled(let v): try applier.apply(v, at: entry)
        case .deviceProvisioned(let v): try applier.apply(v, at: entry)
        case .deviceRevoked(let v): try applier.apply(v, at: entry)
        case .deviceReinstated(let v): try applier.apply(v, at: entry)
        case .apiKeyCreated(let v): try applier.apply(v, at: entry)
        case .apiKeyRevoked(let v): try applier.apply(v, at: entry)
        case .keyTableRetired(let v): try applier.apply(v, at: entry)
        case .crlIssued(let v): try applier.apply(v, at: entry)
        case .nodeRevoked(let v): try applier.apply(v, at: entry)
        }
    }

    /// What the audit trail says about the change; nil for changes that are not actions
    /// (a CRL re-issued as a consequence of a revocation or by the schedule).
    public var audit: AuditDescription? {
        switch self {
        case .keyTablesCreated(let v):
            let ids = v.tables.map(\.id)
            return .init(action: "key_tables.create",
                         target: ids.count == 1 ? "key table \(ids[0])" : "\(ids.count) key tables (\(ids.min() ?? 0)-\(ids.max() ?? 0))")
        case .authorityInstalled: return .init(action: "authority.install", target: "root and intermediate CA certificates")
        case .deviceProvisioned(let d): return .init(action: "device.provision", target: d.serial)
        case .deviceRevoked(let r): return .init(action: "device.revoke", target: r.serial, detail: r.reason)
        case .deviceReinstated(let r): return .init(action: "device.reinstate", target: r.serial)
        case .apiKeyCreated(let k): return .init(action: "api_key.create", target: "api key #\(k.id) '\(k.name)'", detail: "role \(k.role.rawValue)")
        case .apiKeyRevoked(let k):
            let detail = k.effectiveMillis.map { "refused from \(Date(timeIntervalSince1970: Double($0) / 1000).ISO8601Format())" }
            return .init(action: "api_key.revoke", target: "api key #\(k.id)", detail: detail)
        case .keyTableRetired(let r):
            let at = Date(timeIntervalSince1970: Double(r.effectiveMillis) / 1000)
            return .init(action: "key_table.retire", target: "key table \(r.id)", detail: "tokens fail from \(at.ISO8601Format())")
        case .crlIssued: return nil
        case .nodeRevoked(let n): return .init(action: "node.revoke", target: "node \(n.nodeID)", detail: n.reason)
        }
    }
}

/// One audit row's description of a change: action, target and detail (never a secret).
public struct AuditDescription: Sendable, Equatable {
    public var action: String
    public var target: String?
    public var detail: String?
    public init(action: String, target: String? = nil, detail: String? = nil) {
        self.action = action
        self.target = target
        self.detail = detail
    }
}
