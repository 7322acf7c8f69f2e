import Core
package import NodeServices
package import Replication
import Hummingbird
import Foundation
import Synchronization

/// Short-lived copies of what the status page needs from the database and from peers, so a page
/// refreshing in several browsers costs one query and one peer fan-out per `ttl`.
package final class StatusCache: Sendable {
    private struct Entry<T: Sendable>: Sendable {
        var value: T
        var at: ContinuousClock.Instant
    }
    private let revocations = Mutex<Entry<[Revocation]>?>(nil)
    private let peers = Mutex<Entry<[String: PeerStatus]>?>(nil)
    package let ttl: Duration

    package init(ttl: Duration = .seconds(2)) { self.ttl = ttl }

    package func revocations(_ load: () async throws -> [Revocation]) async throws -> [Revocation] {
        if let e = revocations.withLock({ $0 }), e.at.duration(to: .now) < ttl { return e.value }
        let v = try await load()
        revocations.withLock { $0 = Entry(value: v, at: .now) }
        return v
    }

    package func peers(_ load: () async -> [String: PeerStatus]) async -> [String: PeerStatus] {
        if let e = peers.withLock({ $0 }), e.at.duration(to: .now) < ttl { return e.value }
        let v = await load()
        peers.withLock { $0 = Entry(value: v, at: .now) }
        return v
    }
}
