package import Core
import Foundation
package import Logging
import Prometheus
import SwiftASN1
import Synchronization
package import X509

/// The node's in-memory state (registry, API keys, CA certificates), kept in step with the log.
///
/// Entries reach it in any order from the node's own writes, the database tailer and
/// (with replication) peers; a `LogSequencer` hands them out strictly in seq order.
package final class NodeState: Sendable {
    package let registry: Registry
    /// Abuse detection: per-device validation counts and the cluster-wide ledger.
    package let abuse: AbuseMonitor
    package let apiKeys = APIKeyDirectory()
    package let kek: KeyEncryptionKey
    package let metrics: NodeMetrics
    private let logger: Logger
    /// The sequencer, the decoded changes of the entries it holds back (ahead of a gap), and the revocations
    /// applied ahead of their turn.
    private struct Sequencing {
        var sequencer: LogSequencer
        var changes: [Int64: LogChange] = [:]
        var early = EarlyRevocations()
    }
    private let sequencer: Mutex<Sequencing>
    private let appliedSeq = Atomic<Int64>(0)
    /// Requests waiting for an applied seq (`X-SMA-Min-Seq`).
    package let appliedWaiters = AppliedSeqWaiters()
    /// How old this node's knowledge of the log is (`max_staleness_seconds`).
    package let leaderContact = LeaderContactMonitor()
    /// The database's head while it is behind memory (a replicated batch it could not take went to memory), else nil.
    private let storeBehind = Mutex<Int64?>(nil)
    private let ready = Atomic<Bool>(false)
    private let authority = Mutex<CertificateAuthorityCertificates?>(nil)
    private let masterKeys = Mutex<[Int: Bytes32]>([:])
    private let currentCRL = Mutex<CRLDocument?>(nil)
    private let revokedNodes = Mutex<Set<String>>([])

    /// Whether node `id` is revoked (`node_revoked`): its certificate is refused on the peer channel.
    package func isNodeRevoked(_ id: String) -> Bool { revokedNodes.withLock { $0.contains(id) } }
    /// Every revoked node id.
    package var revokedNodeIDs: Set<String> { revokedNodes.withLock { $0 } }

    /// The latest certificate revocation list, as every node serves it (`GET /api/v1/crl`).
    package struct CRLDocument: Sendable {
        package var number: Int64
        package var thisUpdateMillis: Int64
        package var nextUpdateMillis: Int64
        package var der: [UInt8]
        package var pem: String
        package init(number: Int64, thisUpdateMillis: Int64, nextUpdateMillis: Int64, der: [UInt8]) {
            self.number = number
            self.thisUpdateMillis = thisUpdateMillis
            self.nextUpdateMillis = nextUpdateMillis
            self.der = der
            pem = CertificateRevocationList.pem(der)
        }
    }

    package var crl: CRLDocument? { currentCRL.withLock { $0 } }

    /// The CA's public certificates (every node has them; only the leader has the keys).
    package struct CertificateAuthorityCertificates: Sendable {
        package var root: Certificate
        package var intermediate: Certificate
    }

    package init(kek: KeyEncryptionKey, metrics: NodeMetrics, logger: Logger, nodeID: String = "node-1",
         abuseThresholds: AbuseThresholds = AbuseThresholds(), incarnation: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)) {
        registry = Registry(countValidations: abuseThresholds.enabled)
        abuse = AbuseMonitor(nodeID: nodeID, incarnation: incarnation, thresholds: abuseThresholds, registry: registry)
        self.kek = kek
        self.metrics = metrics
        self.logger = logger
        self.sequencer = Mutex(Sequencing(sequencer: LogSequencer(applied: 0)))
    }

    /// Highest seq applied to memory.
    package var applied: Int64 { appliedSeq.load(ordering: .acquiring) }
    package var isReady: Bool { ready.load(ordering: .acquiring) }
    package func markReady() { ready.store(true, ordering: .releasing) }

    package var authorityCertificates: CertificateAuthorityCertificates? { authority.withLock { $0 } }

    /// Unseals master keys with the KEK (index = table id).
    package func unseal(_ tables: [SealedKeyTable]) throws -> [Int: Bytes32] {
        var keys: [Int: Bytes32] = [:]
        for t in tables {
            keys[t.id] = Bytes32(try kek.open(t.sealed, label: "key_table:\(t.id)"))!
        }
        return keys
    }

    /// Builds memory from a database snapshot (start-up). `derived` may hold the key tables
    /// already derived from the same master keys (done while the devices were read).
    package func load(_ snapshot: StoreSnapshot, derived: (keys: [Int: Bytes32], tables: KeyTables)? = nil) throws {
        let keys = try unseal(snapshot.tables)
        if let derived, derived.keys == keys {
            masterKeys.withLock { $0 = keys }
            registry.installKeyTables(derived.tables)
        } else {
            installKeyTables(keys)
        }
        for t in snapshot.tables { registry.setRetirement(table: t.id, effectiveMillis: t.retiredMillis) }
        if let sealed = snapshot.sealedNUCDigestKey { try installNUCDigestKey(sealed) }
        if let c = snapshot.crl {
            currentCRL.withLock { $0 = CRLDocument(number: c.number, thisUpdateMillis: c.thisUpdateMillis, nextUpdateMillis: c.nextUpdateMillis, der: c.der) }
        }
        if let a = snapshot.authority { try installAuthority(rootPEM: a.rootPEM, intermediatePEM: a.intermediatePEM) }
        for k in snapshot.apiKeys { apiKeys.add(hash: k.hash, principal: k.principal, notAfterMillis: k.notAfterMillis) }
        revokedNodes.withLock { $0.formUnion(snapshot.revokedNodes) }
        registry.replaceIndex(snapshot.index)
        sequencer.withLock { $0 = Sequencing(sequencer: LogSequencer(applied: snapshot.head)) }
        appliedSeq.store(snapshot.head, ordering: .releasing)
        appliedWaiters.advance(to: snapshot.head)
        metrics.appliedSeq.set(snapshot.head)
    }

    private func installKeyTables(_ keys: [Int: Bytes32]) {
        let all = masterKeys.withLock { m -> [Bytes32] in
            m.merge(keys) { $1 }
            return Self.dense(m)
        }
        if !all.isEmpty { registry.installKeyTables(KeyTables(masterKeys: all)) }
    }

    /// Master keys by table id as an array (a missing id gets an all-zero key, which no camera holds).
    package static func dense(_ keys: [Int: Bytes32]) -> [Bytes32] {
        let count = (keys.keys.max() ?? -1) + 1
        return (0..<count).map { keys[$0] ?? Bytes32() }
    }

    /// Unseals the cluster's NUC digest key and gives it to the registry (validation digests every opened NUC hash).
    private func installNUCDigestKey(_ sealed: [UInt8]) throws {
        guard let key = Bytes32(try kek.open(sealed, label: NUCDigester.keyLabel)) else {
            throw NodeError(.internal, "the sealed NUC digest key does not hold 32 bytes")
        }
        registry.installNUCDigestKey(key)
    }

    private func installAuthority(rootPEM: String, intermediatePEM: String) throws {
        let certs = CertificateAuthorityCertificates(root: try Certificate(pemEncoded: rootPEM),
                                                     intermediate: try Certificate(pemEncoded: intermediatePEM))
        authority.withLock { $0 = certs }
    }

    /// Offers verified entries with their decoded changes (decoded once, where the signature was checked);
    /// applies to memory those that are next in seq order. Entries ahead of a gap wait, with their changes,
    /// until the gap is filled.
    ///
    /// Revocations among the entries that wait take effect at once (`applyRevocationsEarly`).
    package func offer(_ items: [(entry: LogEntry, change: LogChange)]) {
        guard !items.isEmpty else { return }
        // The sequencer lock is held while applying, so memory sees entries strictly in order.
        sequencer.withLock { s in
            for item in items where item.entry.seq > s.sequencer.applied { s.changes[item.entry.seq] = item.change }
            // Bounded like the sequencer's own backlog; a change dropped here is decoded again when its entry applies.
            if s.changes.count > 200_000 { s.changes.removeAll() }
            let outcome = s.sequencer.offer(items.map(\.entry))
            for rejection in outcome.rejected {
                if case .conflict(let seq) = rejection {
                    metrics.logRejected(reason: "conflict")
                    logger.error("refused a conflicting log entry", metadata: ["log.seq": "\(seq)"])
                }
            }
            let holds = HoldsBox(s.early)
            for entry in outcome.ready {
                do {
                    try (s.changes.removeValue(forKey: entry.seq) ?? entry.change()).apply(to: MemoryApplier(state: self, holds: holds), at: entry)
                } catch {
                    metrics.logRejected(reason: "malformed")
                    logger.error("log entry could not be applied to memory", metadata: ["log.seq": "\(entry.seq)", "error": "\(error)"])
                }
            }
            s.early = holds.value
            if let last = outcome.ready.last {
                // Changes of entries refused as duplicates or conflicts are not kept.
                if !s.changes.isEmpty { s.changes = s.changes.filter { $0.key > last.seq } }
                s.early.release(through: last.seq)
                metrics.earlyRevocationHolds.set(Int64(s.early.count))
                appliedSeq.store(last.seq, ordering: .releasing)
                appliedWaiters.advance(to: last.seq)
                metrics.appliedSeq.set(last.seq)
            }
            // What waits behind a gap: its revocations take effect now.
            applyEarly(items, &s)
        }
    }

    /// Applies the verified revocations among `items` to memory now, ahead of their turn: before the database has
    /// them (the replicator calls this before its database write) and ahead of any gap. What they must hold until
    /// memory applies them in order is kept in `EarlyRevocations`. Entries already applied are ignored.
    package func applyRevocationsEarly(_ items: [(entry: LogEntry, change: LogChange)]) {
        guard !items.isEmpty else { return }
        sequencer.withLock { s in applyEarly(items, &s) }
    }

    private func applyEarly(_ items: [(entry: LogEntry, change: LogChange)], _ s: inout Sequencing) {
        let applied = s.sequencer.applied
        guard items.contains(where: { $0.entry.seq > applied }) else { return }
        let holds = HoldsBox(s.early)
        let applier = EarlyApplier(state: self, holds: holds, applied: applied)
        for item in items where item.entry.seq > applied {
            // Never throws: the early applier touches only revocations, whose payloads are already decoded.
            try? item.change.apply(to: applier, at: item.entry)
        }
        s.early = holds.value
        metrics.earlyRevocationHolds.set(Int64(s.early.count))
    }

    /// The early revocations while one offer applies (the appliers' methods are non-mutating).
    private final class HoldsBox {
        var value: EarlyRevocations
        init(_ value: EarlyRevocations) { self.value = value }
    }

    /// Applies revocations to memory ahead of their turn and records what they hold (`EarlyRevocations`); every other
    /// change waits for its turn. Used only under the sequencer lock.
    private struct EarlyApplier: LogApplier {
        let state: NodeState
        let holds: HoldsBox
        let applied: Int64

        func apply(_ change: LogChange.DeviceRevoked, at entry: LogEntry) throws {
            let serial = DeviceSerial(unchecked: change.serial)
            guard holds.value.deviceRevoked(serial, at: entry.seq, applied: applied) else { return }
            // A device memory does not have yet is revoked when its provisioning is applied.
            state.registry.setRevoked(serial: serial, true)
            state.metrics.revocationsAppliedEarly.increment()
        }

        func apply(_ change: LogChange.KeyTableRetired, at entry: LogEntry) throws {
            guard entry.seq > applied else { return }
            let has = state.registry.retirements[change.id] != nil
            if let effective = holds.value.tableRetired(change.id, effectiveMillis: change.effectiveMillis, at: entry.seq,
                                                        applied: applied, memoryHasRetirement: has) {
                state.registry.setRetirement(table: change.id, effectiveMillis: effective)
            }
            state.metrics.revocationsAppliedEarly.increment()
        }

        func apply(_ change: LogChange.APIKeyRevoked, at entry: LogEntry) throws {
            guard holds.value.apiKeyRevoked(change.id, effectiveMillis: change.effectiveMillis, at: entry.seq, applied: applied) else { return }
            state.apiKeys.revoke(keyID: change.id, effectiveMillis: change.effectiveMillis)
            state.metrics.revocationsAppliedEarly.increment()
        }

        func apply(_ change: LogChange.NodeRevoked, at entry: LogEntry) throws {
            guard holds.value.nodeRevoked(at: entry.seq, applied: applied) else { return }
            _ = state.revokedNodes.withLock { $0.insert(change.nodeID) }
            state.metrics.revocationsAppliedEarly.increment()
        }

        // Everything else waits for its turn.
        func apply(_ change: LogChange.KeyTablesCreated, at entry: LogEntry) throws {}
        func apply(_ change: LogChange.AuthorityInstalled, at entry: LogEntry) throws {}
        func apply(_ change: LogChange.DeviceProvisioned, at entry: LogEntry) throws {}
        func apply(_ change: LogChange.DeviceReinstated, at entry: LogEntry) throws {}
        func apply(_ change: LogChange.APIKeyCreated, at entry: LogEntry) throws {}
        func apply(_ change: LogChange.CRLIssued, at entry: LogEntry) throws {}
    }

    /// The in-memory `LogApplier`: registry, key tables, API keys, CA certificates and CRL. Used only under the
    /// sequencer lock, with entries strictly in seq order. It keeps what revocations applied early hold
    /// (`EarlyRevocations`): an earlier entry never undoes a later revocation.
    private struct MemoryApplier: LogApplier {
        let state: NodeState
        let holds: HoldsBox

        func apply(_ change: LogChange.KeyTablesCreated, at entry: LogEntry) throws {
            var keys: [Int: Bytes32] = [:]
            for t in change.tables {
                guard let key = Bytes32(try state.kek.open(t.sealedMasterKey, label: "key_table:\(t.id)")) else {
                    throw LogError(.malformedPayload, seq: entry.seq, "a sealed master key does not hold 32 bytes")
                }
                keys[t.id] = key
            }
            state.installKeyTables(keys)
            if let sealed = change.sealedNUCDigestKey { try state.installNUCDigestKey(sealed) }
            for id in keys.keys {
                // A retirement with a later seq, applied early, stands.
                let held = holds.value.tableHold(id, after: entry.seq)
                state.registry.setRetirement(table: id, effectiveMillis: held?.effectiveMillis)
                if held != nil { holds.value.setTableProvisional(id, true) }
            }
        }

        func apply(_ change: LogChange.AuthorityInstalled, at entry: LogEntry) throws {
            try state.installAuthority(rootPEM: change.rootPEM, intermediatePEM: change.intermediatePEM)
        }

        func apply(_ change: LogChange.DeviceProvisioned, at entry: LogEntry) throws {
            do { try state.registry.insert(RegisteredDevice(serial: change.serial, nucDigest: change.nucDigest, tableIDs: Array(change.tableIDs))) } catch {
                throw LogError(.malformedPayload, seq: entry.seq, "device conflicts with memory: \(error)")
            }
            // Revoked by a later entry that memory applied early: it is inserted revoked.
            let serial = DeviceSerial(unchecked: change.serial)
            if holds.value.holdsDeviceRevoked(serial, after: entry.seq) {
                state.registry.setRevoked(serial: serial, true)
            }
        }

        func apply(_ change: LogChange.DeviceRevoked, at entry: LogEntry) throws {
            state.registry.setRevoked(serial: DeviceSerial(unchecked: change.serial), true)
        }

        func apply(_ change: LogChange.DeviceReinstated, at entry: LogEntry) throws {
            let serial = DeviceSerial(unchecked: change.serial)
            // A revocation with a later seq, applied early, stands.
            if !holds.value.holdsDeviceRevoked(serial, after: entry.seq) { state.registry.setRevoked(serial: serial, false) }
            state.abuse.deviceReinstated(serial: change.serial, seq: entry.seq)
        }

        func apply(_ change: LogChange.APIKeyCreated, at entry: LogEntry) throws {
            state.apiKeys.add(hash: change.keyHash, principal: Principal(keyID: change.id, name: change.name, role: change.role),
                              notAfterMillis: change.expiresMillis)
            // Revoked by a later entry that memory applied early: it is added revoked.
            if let held = holds.value.apiKeyHold(change.id, after: entry.seq) {
                state.apiKeys.revoke(keyID: change.id, effectiveMillis: held.effectiveMillis)
            }
        }

        func apply(_ change: LogChange.APIKeyRevoked, at entry: LogEntry) throws {
            state.apiKeys.revoke(keyID: change.id, effectiveMillis: change.effectiveMillis)
        }

        func apply(_ change: LogChange.KeyTableRetired, at entry: LogEntry) throws {
            // The first retirement of a table stands (as in the database); one applied early with a later seq is
            // only provisional.
            let held = holds.value.tableHold(change.id, after: entry.seq)
            if state.registry.retirements[change.id] == nil || held?.provisional == true {
                state.registry.setRetirement(table: change.id, effectiveMillis: change.effectiveMillis)
                if held != nil { holds.value.setTableProvisional(change.id, false) }
            }
        }

        func apply(_ change: LogChange.CRLIssued, at entry: LogEntry) throws {
            let doc = CRLDocument(number: change.number, thisUpdateMillis: change.thisUpdateMillis,
                                  nextUpdateMillis: change.nextUpdateMillis, der: change.der)
            state.currentCRL.withLock { current in
                if (current?.number ?? .min) < doc.number { current = doc }
            }
        }

        func apply(_ change: LogChange.NodeRevoked, at entry: LogEntry) throws {
            _ = state.revokedNodes.withLock { $0.insert(change.nodeID) }
        }
    }

    // MARK: Database behind memory

    /// Where this node's database stands while it is behind memory (docs/ARCHITECTURE.md §2.7), else nil.
    package var databaseHeadBehindMemory: Int64? {
        storeBehind.withLock { behind in
            guard let head = behind else { return nil }
            return head < applied ? head : nil
        }
    }

    /// The seq this node can serve from its database (log pages to peers, the operator routes): memory's applied seq,
    /// or the database's head while that is behind.
    package var databaseServableSeq: Int64 { min(applied, databaseHeadBehindMemory ?? .max) }

    /// The database could not take a batch that memory is about to take; memory had applied `memoryBefore`, which the
    /// database holds (memory never runs ahead of it otherwise). Returns whether the database was in step until now.
    @discardableResult
    package func databaseFellBehind(memoryBefore: Int64) -> Bool {
        let first = storeBehind.withLock { behind -> Bool in
            defer { behind = min(behind ?? memoryBefore, memoryBefore) }
            return behind == nil
        }
        metrics.storeBehindEntries.set(max(0, applied - (databaseHeadBehindMemory ?? applied)))
        return first
    }

    /// The database took a batch and its head is now `head`. Returns whether that ended a time behind memory.
    @discardableResult
    package func databaseStored(head: Int64) -> Bool {
        let (was, now) = storeBehind.withLock { behind -> (Int64?, Int64?) in
            let was = behind
            if behind != nil { behind = head < applied ? head : nil }
            return (was, behind)
        }
        metrics.storeBehindEntries.set(now.map { max(0, applied - $0) } ?? 0)
        return was != nil && now == nil
    }

    /// Waits until this node's database has `seq` too (it may be behind memory after an outage), or `timeout` passes.
    package func waitForStored(_ seq: Int64, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while databaseServableSeq < seq {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    /// Waits until `seq` is applied here, or `timeout` passes. Returns whether it was reached.
    /// Woken by the apply itself (`AppliedSeqWaiters`), not by polling.
    package func waitForApplied(_ seq: Int64, timeout: Duration) async -> Bool {
        if applied >= seq { return true }
        return await appliedWaiters.wait(for: seq, timeout: timeout)
    }
}
