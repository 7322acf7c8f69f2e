import Crypto

/// Roles of public-port callers (docs/ARCHITECTURE.md §3).
public enum Role: String, Sendable, Codable, CaseIterable {
    /// Aggregators: validation.
    case validator
    /// Factories: provisioning and device look-up.
    case provisioner
    /// Operators: everything.
    case admin

    /// Whether this role may call an endpoint that requires `required`.
    public func permits(_ required: Role) -> Bool { self == .admin || self == required }
}

/// API keys: `sma_` + 43 base64url characters (256 random bits). Only their SHA-256 is stored.
public enum APIKey {
    /// A new random key.
    public static func generate() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        return "sma_" + base64url(bytes)
    }

    /// The stored form of a presented key.
    public static func hash(_ key: String) -> Bytes32 {
        Bytes32(Array(SHA256.hash(data: Array(key.utf8))))!
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for shift in stride(from: 18, through: 0, by: -6) { out.append(alphabet[Int((n >> UInt32(shift)) & 63)]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            var n = UInt32(bytes[i]) << 16
            if rest == 2 { n |= UInt32(bytes[i + 1]) << 8 }
            let chars = rest == 1 ? 2 : 3
            for k in 0..<chars { out.append(alphabet[Int((n >> UInt32(18 - 6 * k)) & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A caller's identity after authentication.
public struct Principal: Sendable, Equatable {
    public var keyID: Int64
    public var name: String
    public var role: Role
    public init(keyID: Int64, name: String, role: Role) {
        self.keyID = keyID
        self.name = name
        self.role = role
    }
    /// The anonymous validator (only when anonymous validation is enabled).
    public static let anonymous = Principal(keyID: 0, name: "anonymous", role: .validator)
}

/// The in-memory directory of active API keys, by hash.
public final class APIKeyDirectory: Sendable {
    private let keys = ReadWriteLocked([Bytes32: Principal]())

    public init() {}

    /// Adds or replaces a key.
    public func add(hash: Bytes32, principal: Principal) {
        keys.withWriteLock { $0[hash] = principal }
    }

    /// Removes a key by id.
    public func remove(keyID: Int64) {
        keys.withWriteLock { d in
            for (h, p) in d where p.keyID == keyID { d[h] = nil }
        }
    }

    /// The principal for a presented bearer key, or nil.
    public func authenticate(_ presented: String) -> Principal? {
        let h = APIKey.hash(presented)
        return keys.withReadLock { $0[h] }
    }

    public var count: Int { keys.withReadLock { $0.count } }
}
