import Core
import Prometheus

extension NodeState {
    /// How far memory and this node's database disagree about devices (docs/ARCHITECTURE.md §4.1, `/stats`): the
    /// difference in device counts plus every revoked flag that differs, serials compared by their bytes.
    ///
    /// Memory and the database are compared only at the same log seq; while an apply is in flight the check is
    /// retried. Records the result in `sma_registry_disagreements`.
    /// - Returns: the count, or nil when memory did not reach the database's head within a few attempts (a node
    ///   catching up, or an entry held back by a gap): then nothing can be said.
    package func registryDisagreements(with store: any RegistryQueries, attempts: Int = 5) async throws -> Int? {
        for attempt in 0..<attempts {
            if attempt > 0 { try await Task.sleep(for: .milliseconds(20)) }
            let before = applied
            let db = try await store.revocationSnapshot()
            guard db.headSeq == before, applied == before else { continue }
            let n = registry.disagreements(databaseDevices: db.devices,
                                           databaseRevoked: db.revokedSerials.map(DeviceSerial.init(unchecked:)))
            guard applied == before else { continue }
            metrics.registryDisagreements.set(Int64(n))
            return n
        }
        return nil
    }
}
