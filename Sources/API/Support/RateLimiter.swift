import Core
import NodeServices
import Replication
import Hummingbird
import Foundation
import Logging
import Synchronization

/// Token buckets per caller (API key id, or client address when anonymous).
package final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var last: ContinuousClock.Instant
    }

    /// Who is limited: an API key, or a client address for anonymous callers.
    package enum Key: Hashable, Sendable {
        case apiKey(Int64)
        case address(String)
        /// A caller authenticated by its client certificate (the certificate's CN).
        case clientCertificate(String)
    }

    private let buckets = Mutex<[Key: Bucket]>([:])
    package let perSecond: Double
    package let burst: Double

    /// - Parameter perSecond: 0 disables limiting.
    package init(perSecond: Int, burstSeconds: Double = 2) {
        self.perSecond = Double(perSecond)
        self.burst = max(1, Double(perSecond) * burstSeconds)
    }

    /// Takes `cost` tokens for `key`; false when the caller is over its rate.
    package func allow(_ key: Key, cost: Double = 1) -> Bool {
        guard perSecond > 0 else { return true }
        let now = ContinuousClock.now
        return buckets.withLock { b in
            var bucket = b[key] ?? Bucket(tokens: burst, last: now)
            let elapsed = bucket.last.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(burst, bucket.tokens + seconds * perSecond)
            bucket.last = now
            let ok = bucket.tokens >= cost
            if ok { bucket.tokens -= cost }
            if b.count > 100_000 { b.removeAll(keepingCapacity: true) }
            b[key] = bucket
            return ok
        }
    }
}
