package import NIOPosix
package import Core
import Foundation
import Logging
import Crypto
import Prometheus
import SwiftASN1
import X509

/// `POST /api/v1/devices/provision` body (docs/ARCHITECTURE.md §1).
package struct ProvisionRequest: Codable, Sendable {
    package var device_serial: String
    package var device_family: String
    package var nuc_hash: String?
    package var device_public_key: String?
    /// Phase-2 (phone) provisioning, `birthmark` profile only: the device's secret (64 hex digits), its identity in
    /// tokens in place of a NUC hash. Registered exactly like one (keyed digest only, never stored raw).
    package var device_secret: String?
}

/// The camera's provisioning file (docs/ARCHITECTURE.md §1). Field names are fixed by the existing cameras.
package struct ProvisionResponse: Codable, Sendable {
    package var device_serial: String
    package var device_family: String
    package var nuc_hash: String
    package var device_certificate: String
    package var certificate_chain: String
    package var device_private_key: String?
    package var device_public_key: String
    package var table_assignments: [Int]
    package var master_keys: [String: String]
    /// Phase-2 answers only (a request with `device_secret`): for each assigned table, in `key_table_indices` order,
    /// its 1,000 derived keys as hex; the tables; and the secret echoed back (as the original SMA answers).
    package var key_tables: [[String]]? = nil
    package var key_table_indices: [Int]? = nil
    package var device_secret: String? = nil
}

/// Provisioning, revocation and reinstatement: builds the log changes and commits them through the leader's writer.
package final class DeviceService: Sendable {
    package let state: NodeState
    package let writer: LogWriter
    package let authority: CertificateAuthority
    package let manufacturer: String
    package let maEndpoint: String
    package let metrics: NodeMetrics
    package let crl: CRLIssuer
    /// Where blocking CPU work runs (key generation, signing).
    let cpu: NIOThreadPool
    /// New devices get only tables with ids below this (`assign_tables_below`); nil: any assignable table.
    package let assignTablesBelow: Int?
    /// Phase-2 provisioning (`device_secret`) is accepted (the `birthmark` profile).
    package let acceptsDeviceSecret: Bool

    package init(state: NodeState, writer: LogWriter, authority: CertificateAuthority, manufacturer: String, maEndpoint: String, metrics: NodeMetrics,
                 cpu: NIOThreadPool, assignTablesBelow: Int? = nil, acceptsDeviceSecret: Bool = false,
         crlValidity: Duration = .seconds(86_400)) {
        self.assignTablesBelow = assignTablesBelow
        self.acceptsDeviceSecret = acceptsDeviceSecret
        self.crl = CRLIssuer(authority: authority, validity: crlValidity)
        self.cpu = cpu
        self.state = state
        self.writer = writer
        self.authority = authority
        self.manufacturer = manufacturer
        self.maEndpoint = maEndpoint
        self.metrics = metrics
    }

    private struct Prepared {
        var change: LogChange.DeviceProvisioned
        var response: ProvisionResponse
    }

    /// Checks one request and does its CPU work (key pair, certificate) outside any transaction.
    private func prepare(_ r: ProvisionRequest, prefix: String, chain: String) throws -> Prepared {
        // The serial and family alphabet (docs/ARCHITECTURE.md §1.4), checked once, here: nothing is normalised.
        let serial = try DeviceSerial(r.device_serial, field: prefix + "device_serial")
        try DeviceText.check(r.device_family, field: prefix + "device_family")
        let nuc: NUCHash
        if let secret = r.device_secret {
            // The device secret takes the NUC hash's place: same size, same digest, same uniqueness (never stored raw).
            guard acceptsDeviceSecret else {
                throw NodeError(.invalidInput, "phase-2 provisioning is served only in the birthmark compatibility profile", field: prefix + "device_secret")
            }
            guard r.nuc_hash == nil else {
                throw NodeError(.invalidInput, "give nuc_hash or device_secret, not both", field: prefix + "device_secret")
            }
            guard let n = NUCHash(hex: secret) else {
                throw NodeError(.invalidInput, "must be 64 hex digits (32 bytes)", field: prefix + "device_secret")
            }
            nuc = n
        } else if let hex = r.nuc_hash {
            guard let n = NUCHash(hex: hex) else {
                throw NodeError(.invalidInput, "must be 64 hex digits (32 bytes)", field: prefix + "nuc_hash")
            }
            nuc = n
        } else {
            nuc = NUCHash(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })!
        }
        if state.registry.device(serial: serial) != nil {
            throw NodeError(.conflict, "a device with this serial is already provisioned", field: prefix + "device_serial")
        }
        // Only the digest is stored, logged and indexed (docs/ARCHITECTURE.md §3.2); the hash itself goes back to the camera.
        guard let digest = state.registry.nucDigest(nuc) else {
            throw NodeError(.unavailable, "the NUC digest key is not loaded yet")
        }
        if state.registry.device(nucDigest: digest) != nil {
            throw r.device_secret == nil ? NodeError(.conflict, "a device with this NUC hash is already provisioned", field: prefix + "nuc_hash")
                : NodeError(.conflict, "a device with this secret is already provisioned", field: prefix + "device_secret")
        }
        var privateKeyPEM: String?
        let publicKey: P256.Signing.PublicKey
        if let pem = r.device_public_key {
            guard let k = try? P256.Signing.PublicKey(pemRepresentation: pem) else {
                throw NodeError(.invalidInput, "must be a PEM-encoded P-256 public key", field: prefix + "device_public_key")
            }
            publicKey = k
        } else {
            let k = P256.Signing.PrivateKey()
            privateKeyPEM = k.pemRepresentation
            publicKey = k.publicKey
        }
        let tables = try assignTables()
        let profile = CertificateAuthority.DeviceProfile(serial: r.device_serial, family: r.device_family,
                                                         manufacturer: manufacturer, maEndpoint: maEndpoint)
        let certificate = try authority.issueDeviceCertificate(profile, publicKey: publicKey, now: Date())
        let certDER = try certificate.serializeAsPEM().derBytes
        var masterKeys: [String: String] = [:]
        for t in tables {
            guard let k = state.registry.masterKey(table: t) else { throw NodeError(.internal, "key table \(t) is not loaded") }
            masterKeys[String(t)] = k.hex
        }
        let change = LogChange.DeviceProvisioned(serial: r.device_serial, family: r.device_family, nucDigest: digest,
                                                 tableIDs: tables, certificateDER: certDER)
        let certPEM = change.certificatePEM
        var response = ProvisionResponse(device_serial: r.device_serial, device_family: r.device_family, nuc_hash: nuc.hex,
                                         device_certificate: certPEM, certificate_chain: chain, device_private_key: privateKeyPEM,
                                         device_public_key: publicKey.pemRepresentation, table_assignments: Array(tables), master_keys: masterKeys)
        if r.device_secret != nil {
            // What the phone stores instead of master keys: every derived key of its three tables (~24 ms of HKDF).
            var keyTables: [[String]] = []
            for t in tables {
                let master = state.registry.masterKey(table: t)!
                keyTables.append((0..<BirthmarkProtocol.keysPerTable).map { i in
                    KeyDerivation.derivedKey(masterKey: master, keyIndex: i).withUnsafeBytes { Hex.encode(Array($0)) }
                })
            }
            response.key_tables = keyTables
            response.key_table_indices = Array(tables)
            response.device_secret = nuc.hex
        }
        return Prepared(change: change, response: response)
    }

    /// Checks and prepares every request of a batch (a blocking CPU job: call it on the CPU thread pool).
    private func prepare(_ requests: [ProvisionRequest], bulk: Bool) throws -> [Prepared] {
        let chain = try authority.chainPEM()
        var prepared: [Prepared] = []
        prepared.reserveCapacity(requests.count)
        var serials = Set<DeviceSerial>(), nucs = Set<NUCDigest>()
        for (i, r) in requests.enumerated() {
            let prefix = bulk ? "devices[\(i)]." : ""
            // A phase-2 answer carries 3,000 derived keys (~200 KB, ~24 ms): one device per request.
            if bulk && r.device_secret != nil {
                throw NodeError(.invalidInput, "phase-2 provisioning (device_secret) takes one device per request", field: prefix + "device_secret")
            }
            let p = try prepare(r, prefix: prefix, chain: chain)
            guard serials.insert(DeviceSerial(unchecked: p.change.serial)).inserted else {
                throw NodeError(.conflict, "serial appears twice in this batch", field: prefix + "device_serial")
            }
            guard nucs.insert(p.change.nucDigest).inserted else {
                throw NodeError(.conflict, "NUC hash appears twice in this batch", field: prefix + "nuc_hash")
            }
            prepared.append(p)
        }
        return prepared
    }

    private func assignTables() throws -> KeyTableTriple {
        var candidates = state.registry.assignableTables
        if let bound = assignTablesBelow { candidates.removeAll { $0 >= bound } }
        guard candidates.count >= BirthmarkProtocol.tablesPerDevice else {
            throw NodeError(.unavailable, assignTablesBelow.map { "fewer than 3 key tables below \($0) (assign_tables_below) are available for assignment" }
                            ?? "fewer than 3 key tables are available for assignment")
        }
        var rng = SystemRandomNumberGenerator()
        var chosen: [Int] = []
        while chosen.count < BirthmarkProtocol.tablesPerDevice {
            let t = candidates.randomElement(using: &rng)!
            if !chosen.contains(t) { chosen.append(t) }
        }
        return KeyTableTriple(chosen)!
    }

    /// A free-text value such as a revocation reason: 1 to 128 characters, no control characters or line breaks.
    package static func checkText(_ s: String, field: String) throws {
        guard !s.isEmpty, s.count <= 128, s.utf8.count <= 512 else {
            throw NodeError(.invalidInput, "must be 1 to 128 characters (at most 512 bytes)", field: field)
        }
        guard s.unicodeScalars.allSatisfy({ !$0.properties.isWhitespace || $0 == " " }),
              !s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw NodeError(.invalidInput, "must not contain control characters or line breaks", field: field)
        }
    }

    /// Provisions one device. Returns the provisioning file and the log seq.
    package func provision(_ r: ProvisionRequest, actor: AuditActor) async throws -> (ProvisionResponse, Int64) {
        let (responses, seq) = try await provision(bulk: [r], bulk: false, actor: actor)
        return (responses[0], seq)
    }

    /// Provisions a batch in one transaction: all or nothing.
    package func provision(bulk requests: [ProvisionRequest], bulk: Bool = true, actor: AuditActor) async throws -> ([ProvisionResponse], Int64) {
        // Key generation and certificate signing (~0.3 ms a device) run on the CPU thread pool, never on the
        // cooperative pool that serves every request.
        let prepared = try await cpu.runIfActive { try self.prepare(requests, bulk: bulk) }
        var audit = actor
        if bulk { audit.note = "bulk provisioning of \(prepared.count) device(s)" }
        let entries = try await writer.write(prepared.map { .deviceProvisioned($0.change) }, audit: audit)
        metrics.provisioned.increment(by: Int64(entries.count))
        return (prepared.map(\.response), entries.last!.seq)
    }

    /// Revokes a device. Idempotent: revoking a revoked device writes nothing.
    /// The same transaction issues a new CRL that lists the device.
    /// `serial` is compared by its bytes, as PostgreSQL compares it (§1.4).
    package func revoke(serial: DeviceSerial, reason: String, actor: AuditActor) async throws -> Int64? {
        guard let d = state.registry.device(serial: serial) else { throw NodeError(.notFound, "no device with this serial") }
        if d.revoked { return nil }
        try Self.checkText(reason.isEmpty ? "unspecified" : reason, field: "reason")
        let entries = try await writer.write([.deviceRevoked(.init(serial: serial.string, reason: reason.isEmpty ? "unspecified" : reason))],
                                             audit: actor, followUp: crl.followUp)
        metrics.revocations.increment()
        return entries.last!.seq
    }

    /// Reinstates a revoked device (and issues a CRL without it). Idempotent.
    package func reinstate(serial: DeviceSerial, actor: AuditActor) async throws -> Int64? {
        guard let d = state.registry.device(serial: serial) else { throw NodeError(.notFound, "no device with this serial") }
        if !d.revoked { return nil }
        let entries = try await writer.write([.deviceReinstated(.init(serial: serial.string))], audit: actor, followUp: crl.followUp)
        metrics.reinstatements.increment()
        return entries.last!.seq
    }

    /// Retires key table `id`: never assigned again; its tokens FAIL `graceSeconds` from now.
    /// 404 for an unknown table, 409 when it is already retiring or retired.
    package func retireTable(_ id: Int, graceSeconds: Int, actor: AuditActor) async throws -> (effectiveMillis: Int64, seq: Int64) {
        guard id >= 0, id < state.registry.keyTableCount else { throw NodeError(.notFound, "no key table with this id") }
        if let existing = state.registry.retirements[id] {
            let at = Date(timeIntervalSince1970: Double(max(existing, 0)) / 1000).ISO8601Format()
            throw NodeError(.conflict, "key table \(id) is already retired or retiring (its tokens fail from \(at))", field: "id")
        }
        let effective = Registry.systemMillis() + Int64(graceSeconds) * 1000
        let entries = try await writer.write([.keyTableRetired(.init(id: id, effectiveMillis: effective))], audit: actor)
        return (effective, entries.last!.seq)
    }

    /// Issues a fresh CRL on its own (schedule, or the first one of a cluster).
    package func issueCRL() async throws -> Int64? {
        try await writer.write([], audit: nil, followUp: crl.followUp).last?.seq
    }
}
