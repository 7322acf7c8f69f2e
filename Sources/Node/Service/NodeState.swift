import Core
import Foundation
import Logging
import Synchronization
import X509
import SwiftASN1
import Prometheus

/// The node's in-memory state (registry, API keys, CA certificates), kept in step with the log.
///
/// Entries reach it in any order from the node's own writes, the database tailer and
/// (with replication) peers; a `LogSequencer` hands them out strictly in seq order.
final class NodeState: Sendable {
    let registry: Registry
    /// Abuse detection: per-device validation counts and the cluster-wide ledger.
    let abuse: AbuseMonitor
    let apiKeys = APIKeyDirectory()
    let kek: KeyEncryptionKey
    let metrics: NodeMetrics
    private let logger: Logger
    private let sequencer: Mutex<LogSequencer>
    private let appliedSeq = Atomic<Int64>(0)
    private let ready = Atomic<Bool>(false)
    private let authority = Mutex<CertificateAuthorityCertificates?>(nil)
    private let masterKeys = Mutex<[Int: Bytes32]>([:])
    private let currentCRL = Mutex<CRLDocument?>(nil)

    /// The latest certificate revocation list, as every node serves it (`GET /api/v1/crl`).
    struct CRLDocument: Sendable {
        var number: Int64
        var thisUpdateMillis: Int64
        var nextUpdateMillis: Int64
        var der: [UInt8]
        var pem: String
        init(number: Int64, thisUpdateMillis: Int64, nextUpdateMillis: Int64, der: [UInt8]) {
            self.number = number
            self.thisUpdateMillis = thisUpdateMillis
            self.nextUpdateMillis = nextUpdateMillis
            self.der = der
            pem = CertificateRevocationList.pem(der)
        }
    }

    var crl: CRLDocument? { currentCRL.withLock { $0 } }

    /// The CA's public certificates (every node has them; only the leader has the keys).
    struct CertificateAuthorityCertificates: Sendable {
        var root: Certificate
        var intermediate: Certificate
    }

    init(kek: KeyEncryptionKey, metrics: NodeMetrics, logger: Logger, nodeID: String = "node-1",
         abuseThresholds: AbuseThresholds = AbuseThresholds(), incarnation: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)) {
        registry = Registry(countValidations: abuseThresholds.enabled)
        abuse = AbuseMonitor(nodeID: nodeID, incarnation: incarnation, thresholds: abuseThresholds, registry: registry)
        self.kek = kek
        self.metrics = metrics
        self.logger = logger
        self.sequencer = Mutex(LogSequencer(applied: 0))
    }

    /// Highest seq applied to memory.
    var applied: Int64 { appliedSeq.load(ordering: .acquiring) }
    var isReady: Bool { ready.load(ordering: .acquiring) }
    func markReady() { ready.store(true, ordering: .releasing) }

    var authorityCertificates: CertificateAuthorityCertificates? { authority.withLock { $0 } }

    /// Unseals master keys with the KEK (index = table id).
    func unseal(_ tables: [Store.SealedTable]) throws -> [Int: Bytes32] {
        var keys: [Int: Bytes32] = [:]
        for t in tables {
            keys[t.id] = Bytes32(try kek.open(t.sealed, label: "key_table:\(t.id)"))!
        }
        return keys
    }

    /// Builds memory from a database snapshot (start-up). `derived` may hold the key tables
    /// already derived from the same master keys (done while the devices were read).
    func load(_ snapshot: Store.Snapshot, derived: (keys: [Int: Bytes32], tables: KeyTables)? = nil) throws {
        let keys = try unseal(snapshot.tables)
        if let derived, derived.keys == keys {
            masterKeys.withLock { $0 = keys }
            registry.installKeyTables(derived.tables)
        } else {
            installKeyTables(keys)
        }
        for t in snapshot.tables { registry.setRetirement(table: t.id, effectiveMillis: t.retiredMillis) }
        if let c = snapshot.crl {
            currentCRL.withLock { $0 = CRLDocument(number: c.number, thisUpdateMillis: c.thisUpdateMillis, nextUpdateMillis: c.nextUpdateMillis, der: c.der) }
        }
        if let a = snapshot.authority { try installAuthority(rootPEM: a.rootPEM, intermediatePEM: a.intermediatePEM) }
        for k in snapshot.apiKeys { apiKeys.add(hash: k.hash, principal: k.principal) }
        registry.replaceIndex(snapshot.index)
        sequencer.withLock { $0 = LogSequencer(applied: snapshot.head) }
        appliedSeq.store(snapshot.head, ordering: .releasing)
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
    static func dense(_ keys: [Int: Bytes32]) -> [Bytes32] {
        let count = (keys.keys.max() ?? -1) + 1
        return (0..<count).map { keys[$0] ?? Bytes32() }
    }

    private func installAuthority(rootPEM: String, intermediatePEM: String) throws {
        let certs = CertificateAuthorityCertificates(root: try Certificate(pemEncoded: rootPEM),
                                                     intermediate: try Certificate(pemEncoded: intermediatePEM))
        authority.withLock { $0 = certs }
    }

    /// Offers verified entries; applies to memory those that are next in seq order.
    func offer(_ entries: [LogEntry]) {
        offer(entries, decoded: [:])
    }

    /// Offers verified entries whose changes are already decoded (by seq), so they are not decoded again.
    func offer(_ items: [(entry: LogEntry, change: LogChange)]) {
        var decoded: [Int64: LogChange] = [:]
        decoded.reserveCapacity(items.count)
        for item in items { decoded[item.entry.seq] = item.change }
        offer(items.map(\.entry), decoded: decoded)
    }

    private func offer(_ entries: [LogEntry], decoded: [Int64: LogChange]) {
        guard !entries.isEmpty else { return }
        // The sequencer lock is held while applying, so memory sees entries strictly in order.
        sequencer.withLock { seq in
            let outcome = seq.offer(entries)
            for rejection in outcome.rejected {
                if case .conflict(let s) = rejection {
                    metrics.logRejected(reason: "conflict")
                    logger.error("refused a conflicting log entry", metadata: ["log.seq": "\(s)"])
                }
            }
            for entry in outcome.ready {
                do {
                    try applyToMemory(entry, try decoded[entry.seq] ?? entry.change())
                } catch {
                    metrics.logRejected(reason: "malformed")
                    logger.error("log entry could not be applied to memory", metadata: ["log.seq": "\(entry.seq)", "error": "\(error)"])
                }
            }
            if let last = outcome.ready.last {
                appliedSeq.store(last.seq, ordering: .releasing)
                metrics.appliedSeq.set(last.seq)
            }
        }
    }

    private func applyToMemory(_ entry: LogEntry, _ change: LogChange) throws {
        switch change {
        case .keyTablesCreated(let v):
            var keys: [Int: Bytes32] = [:]
            for t in v.tables {
                keys[t.id] = Bytes32(try kek.open(Hex.decode(t.sealedMasterKey) ?? [], label: "key_table:\(t.id)"))!
            }
            installKeyTables(keys)
            for id in keys.keys { registry.setRetirement(table: id, effectiveMillis: nil) }
        case .authorityInstalled(let v):
            try installAuthority(rootPEM: v.rootPEM, intermediatePEM: v.intermediatePEM)
        case .deviceProvisioned(let d):
            guard let nuc = NUCHash(hex: d.nucHash) else { throw LogError(.malformedPayload, seq: entry.seq, "bad nuc hash") }
            do { try registry.insert(RegisteredDevice(serial: d.serial, nucHash: nuc, tableIDs: d.tableIDs)) } catch {
                throw LogError(.malformedPayload, seq: entry.seq, "device conflicts with memory: \(error)")
            }
        case .deviceRevoked(let r):
            registry.setRevoked(serial: r.serial, true)
        case .deviceReinstated(let r):
            registry.setRevoked(serial: r.serial, false)
            abuse.deviceReinstated(serial: r.serial, seq: entry.seq)
        case .apiKeyCreated(let k):
            guard let hash = Hex.decode(k.keyHash).flatMap({ Bytes32($0) }) else { return }
            apiKeys.add(hash: hash, principal: Principal(keyID: k.id, name: k.name, role: k.role))
        case .apiKeyRevoked(let k):
            apiKeys.remove(keyID: k.id)
        case .keyTableRetired(let r):
            // The first retirement of a table stands (as in the database).
            if registry.retirements[r.id] == nil { registry.setRetirement(table: r.id, effectiveMillis: r.effectiveMillis) }
        case .crlIssued(let v):
            guard let der = Data(base64Encoded: v.der) else { throw LogError(.malformedPayload, seq: entry.seq, "CRL is not base64") }
            let doc = CRLDocument(number: v.number, thisUpdateMillis: v.thisUpdateMillis, nextUpdateMillis: v.nextUpdateMillis, der: Array(der))
            currentCRL.withLock { current in
                if (current?.number ?? .min) < doc.number { current = doc }
            }
        }
    }

    /// Waits until `seq` is applied here, or `timeout` passes. Returns whether it was reached.
    func waitForApplied(_ seq: Int64, timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while applied < seq {
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }
}
