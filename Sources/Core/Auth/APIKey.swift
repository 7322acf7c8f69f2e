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

/// The in-memory directory of API keys, by hash: each valid until its expiry or its revocation's effective time.
public final class APIKeyDirectory: Sendable {
    private struct Entry: Sendable {
        var principal: Principal
        /// Refused from this time on (ms since 1970); nil: until revoked.
        var notAfterMillis: Int64?
    }
    private let keys = ReadWriteLocked([Bytes32: Entry]())
    private let now: @Sendable () -> Int64

    /// - Parameter now: the wall clock, ms since 1970 (tests pass their own).
    public init(now: @escaping @Sendable () -> Int64 = Registry.systemMillis) { self.now = now }

    /// Adds or replaces a key, valid until `notAfterMillis` (nil: until revoked).
    public func add(hash: Bytes32, principal: Principal, notAfterMillis: Int64? = nil) {
        keys.withWriteLock { $0[hash] = Entry(principal: principal, notAfterMillis: notAfterMillis) }
    }

    /// Revokes a key by id: at once, or from `effectiveMillis` on (a rotation's grace).
    public func revoke(keyID: Int64, effectiveMillis: Int64? = nil) {
        let t = now()
        keys.withWriteLock { d in
            for (h, e) in d where e.principal.keyID == keyID {
                if let effective = effectiveMillis, effective > t {
                    d[h]?.notAfterMillis = min(e.notAfterMillis ?? .max, effective)
                } else {
                    d[h] = nil
                }
            }
        }
    }

    /// The principal for a presented bearer key, or nil (unknown, revoked or expired).
    public func authenticate(_ presented: String) -> Principal? {
        let h = APIKey.hash(presented)
        guard let entry = keys.withReadLock({ $0[h] }) else { return nil }
        // The clock is read only for keys that expire or are being rotated out.
        if let notAfter = entry.notAfterMillis, now() >= notAfter { return nil }
        return entry.principal
    }

    /// Keys still valid now.
    public var count: Int {
        let t = now()
        return keys.withReadLock { $0.values.filter { ($0.notAfterMillis ?? .max) > t }.count }
    }

    /// Valid keys holding `role`, now (the API refuses to revoke the last admin key).
    public func count(role: Role) -> Int {
        let t = now()
        return keys.withReadLock { $0.values.filter { $0.principal.role == role && ($0.notAfterMillis ?? .max) > t }.count }
    }

    /// The valid key with this id, if any.
    public func principal(keyID: Int64) -> Principal? {
        let t = now()
        return keys.withReadLock { $0.values.first { $0.principal.keyID == keyID && ($0.notAfterMillis ?? .max) > t }?.principal }
    }
}
