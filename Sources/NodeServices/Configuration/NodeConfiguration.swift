import SMAErrors
package import Core
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything a node needs to run, loaded from one JSON file plus `SMA_*` environment overrides.
///
/// Every field has a documented default except the ones that identify the node's
/// data (`database_url`, `kek_file`). Validated at start: errors name the key.
package struct NodeConfiguration: Codable, Sendable, Equatable {
    /// Unique node id, e.g. `r1-n1`. Default `node-1`.
    package var nodeID: String = "node-1"
    /// Region name, e.g. `region-1`. Default `region-1`.
    package var region: String = "region-1"
    /// `leader-eligible` (may take the lease and write) or `follower`. Default `leader-eligible`.
    package var role: NodeRole = .leaderEligible
    /// Public API listener. Default 127.0.0.1:8080.
    package var publicHost: String = "127.0.0.1"
    package var publicPort: Int = 8080
    /// Peer (replication, mutual TLS) listener. Default 127.0.0.1:9080.
    package var peerHost: String = "127.0.0.1"
    package var peerPort: Int = 9080
    /// Local IP address the peer client's outgoing connections bind to. Default (nil): `peer_host` when that is a
    /// specific IP address (not 0.0.0.0 or ::), else the system's choice; "" always lets the system choose.
    package var peerSourceAddress: String? = nil
    /// libpq connection string or URI of this node's PostgreSQL database. Required.
    package var databaseURL: String = ""
    /// Connections in the node's PostgreSQL pool. Default 8.
    package var databasePoolSize: Int = 8
    /// File holding the key-encryption key (64 hex digits). Required.
    package var kekFile: String = ""
    /// Peer URLs to join through (issue: replication). Default none.
    package var seeds: [String] = []
    /// Answer `POST /validate` without an API key (drop-in compatibility with today's aggregators). Default false.
    package var anonymousValidation: Bool = false
    /// `/validate-cert` also accepts a signature over camera-pi's text `image_hash + str(timestamp)`, which binds neither
    /// the certificate nor `gps_hash` (docs/ARCHITECTURE.md §1.6). Default false.
    package var acceptLegacySignatureText: Bool = false
    /// Compatibility profile: `none`, or `birthmark` for today's Birthmark camera and aggregator unmodified (README,
    /// docs/ARCHITECTURE.md §4.8): keyless `/validate`, `/v1/validate/batch` and `/validate-cert` (rate limits per client
    /// address still apply), new devices' tables below `assign_tables_below` (250 unless set). Default `none`.
    package var compatibility: CompatibilityProfile = .none
    /// New devices get only key tables with ids below this bound (existing devices keep theirs). Default: 250 in the
    /// `birthmark` profile (its aggregator refuses `table_id >= 250`), otherwise none (every installed table).
    package var assignTablesBelow: Int? = nil
    /// Manufacturer name in certificates (subject O, manufacturerID extension). Default `SIMULATED_MFG`.
    package var manufacturer: String = "SIMULATED_MFG"
    /// Validation URL written into device certificates (maEndpoint). Default `http://<public_host>:<public_port>/validate`.
    package var maEndpoint: String? = nil
    /// `trace`, `debug`, `info`, `notice`, `warning`, `error`. Default `info`.
    package var logLevel: String = "info"
    /// Largest accepted request body for single requests, bytes. Default 64 KiB.
    package var maxBodyBytes: Int = 64 * 1024
    /// Largest accepted body for batch and bulk endpoints, bytes. Default 2 MiB (1,000 tokens take ~0.2 MiB,
    /// 1,000 devices with public keys ~0.4 MiB); at most four such bodies are read at once per listener.
    package var maxBulkBodyBytes: Int = 2 * 1024 * 1024
    /// Most tokens in one `/v1/validate/batch` or devices in one bulk provisioning. Default 1,000.
    package var maxBatchItems: Int = 1000
    /// Requests per second allowed per API key (or per client address when anonymous), burst = 2 s worth. 0 = unlimited. Default 50,000.
    package var rateLimitPerSecond: Int = 50_000
    /// Requests per second for provisioning and admin endpoints per key. Default 2,000.
    package var writeRateLimitPerSecond: Int = 2_000
    /// Failed authentications per second allowed per client address (burst = 2 s worth); beyond, every request
    /// from that address that carries a key is answered 429 until the bucket refills. 0 = unlimited. Default 5.
    package var authFailuresPerSecond: Int = 5
    /// How long a request carrying `X-SMA-Min-Seq` may wait for that entry, seconds. Default 5.
    package var minSeqWaitSeconds: Double = 5
    /// Leader lease time-to-live, seconds (database time). Default 5.
    package var leaseTTLSeconds: Double = 5
    /// How often the node re-reads its own database's log for entries written by others, seconds. Default 0.2.
    package var logPollSeconds: Double = 0.2
    /// Peer channel (mutual TLS): this node's certificate chain, private key and the cluster CA, PEM files.
    /// When absent the node runs alone (no peer listener, no replication). Default none.
    package var peerCertFile: String? = nil
    package var peerKeyFile: String? = nil
    package var peerCAFile: String? = nil
    /// The cluster's log verification key (64 hex digits, `sma-node log-key`); required for a node whose
    /// database was not initialized with `sma-node init` (other regions). Default none.
    package var logVerificationKey: String? = nil
    /// Gossip timing preset: `lan` (one machine: 200 ms rounds) or `wan` (regions: 1 s rounds). Default `wan`.
    package var timing: String = "wan"
    /// A node that cannot reach any peer this long after start serves what it loaded (stale but available), seconds. Default 10.
    package var isolatedReadyAfterSeconds: Double = 10
    /// Default grace of `POST /api/v1/key-tables/{id}/retire` (tokens of the table PASS this long), seconds. Default 86,400.
    package var keyTableRetireGraceSeconds: Int = 86_400
    /// Validity of each CRL (thisUpdate to nextUpdate), hours; the leader re-issues it before half has elapsed. Default 24.
    package var crlValidityHours: Double = 24
    /// Abuse detection: cluster-wide validations of one device per 24 h at which the leader logs a warning. 0 = off. Default 8,000.
    package var abuseWarnPerDay: Int = 8_000
    /// Cluster-wide validations of one device per 24 h at which the leader revokes it. 0 = off. Default 10,000.
    package var abuseRevokePerDay: Int = 10_000
    /// A node reports a device to its peers once its own 24 h count reaches this (bounds gossip size). Default 100.
    package var abuseReportFloor: Int = 100
    /// Abuse detection never revokes on its own: a revocation that would be due is logged (`abuse revocation withheld`)
    /// and counted, and an operator decides. Default false.
    package var abuseWarnOnly: Bool = false
    /// HTTPS on the public port: the server certificate chain and its private key, PEM files (both or neither).
    /// Re-read on SIGHUP: new handshakes use the new pair, established connections keep theirs. Default none (plain HTTP).
    package var publicTLSCertFile: String? = nil
    package var publicTLSKeyFile: String? = nil
    /// CA certificates (PEM) whose client certificates authenticate callers as `validator` (aggregators). Default none.
    package var publicTLSClientCAFile: String? = nil
    /// Client certificates on the public port: `off`, `optional` (a presented certificate must verify against
    /// `public_tls_client_ca_file`; without one, API keys as usual) or `require` (no handshake without one).
    /// Default `optional` when `public_tls_client_ca_file` is set, else `off`.
    package var publicTLSClientAuth: PublicClientAuth? = nil
    /// `Strict-Transport-Security: max-age=N` on every HTTPS answer, seconds; 0 = no header. Default 31,536,000 (one year).
    package var hstsMaxAgeSeconds: Int = 31_536_000
    /// How long a node may go without current knowledge from the leader (docs/ARCHITECTURE.md §2.9, "Staleness")
    /// before `staleness_mode` applies, seconds (> 0). Default none (knowledge age is measured, never acted on).
    package var maxStalenessSeconds: Double? = nil
    /// What a node whose knowledge is older than `max_staleness_seconds` does with a PASS: `off` (PASS), `warn` (PASS,
    /// logged at most once a minute and counted) or `fail` (FAIL naming the staleness). Default `off`.
    package var stalenessMode: StalenessMode = .off

    package enum CodingKeys: String, CodingKey {
        case nodeID = "node_id", region, role
        case publicHost = "public_host", publicPort = "public_port", peerHost = "peer_host", peerPort = "peer_port"
        case peerSourceAddress = "peer_source_address"
        case databaseURL = "database_url", databasePoolSize = "database_pool_size", kekFile = "kek_file", seeds
        case anonymousValidation = "anonymous_validation", acceptLegacySignatureText = "accept_legacy_signature_text"
        case compatibility, assignTablesBelow = "assign_tables_below", manufacturer, maEndpoint = "ma_endpoint", logLevel = "log_level"
        case maxBodyBytes = "max_body_bytes", maxBulkBodyBytes = "max_bulk_body_bytes", maxBatchItems = "max_batch_items"
        case rateLimitPerSecond = "rate_limit_per_second", writeRateLimitPerSecond = "write_rate_limit_per_second",
             authFailuresPerSecond = "auth_failures_per_second"
        case minSeqWaitSeconds = "min_seq_wait_seconds", leaseTTLSeconds = "lease_ttl_seconds", logPollSeconds = "log_poll_seconds"
        case peerCertFile = "peer_cert_file", peerKeyFile = "peer_key_file", peerCAFile = "peer_ca_file"
        case logVerificationKey = "log_verification_key", timing, isolatedReadyAfterSeconds = "isolated_ready_after_seconds"
        case keyTableRetireGraceSeconds = "key_table_retire_grace_seconds", crlValidityHours = "crl_validity_hours"
        case abuseWarnPerDay = "abuse_warn_per_day", abuseRevokePerDay = "abuse_revoke_per_day", abuseReportFloor = "abuse_report_floor"
        case abuseWarnOnly = "abuse_warn_only"
        case publicTLSCertFile = "public_tls_cert_file", publicTLSKeyFile = "public_tls_key_file"
        case publicTLSClientCAFile = "public_tls_client_ca_file", publicTLSClientAuth = "public_tls_client_auth"
        case hstsMaxAgeSeconds = "hsts_max_age_seconds"
        case maxStalenessSeconds = "max_staleness_seconds", stalenessMode = "staleness_mode"
    }

    package init() {}

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = NodeConfiguration()
        func v<T: Decodable>(_ k: CodingKeys, _ def: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? def }
        nodeID = try v(.nodeID, d.nodeID)
        region = try v(.region, d.region)
        role = try v(.role, d.role)
        publicHost = try v(.publicHost, d.publicHost)
        publicPort = try v(.publicPort, d.publicPort)
        peerHost = try v(.peerHost, d.peerHost)
        peerPort = try v(.peerPort, d.peerPort)
        peerSourceAddress = try c.decodeIfPresent(String.self, forKey: .peerSourceAddress)
        databaseURL = try v(.databaseURL, d.databaseURL)
        databasePoolSize = try v(.databasePoolSize, d.databasePoolSize)
        kekFile = try v(.kekFile, d.kekFile)
        seeds = try v(.seeds, d.seeds)
        anonymousValidation = try v(.anonymousValidation, d.anonymousValidation)
        acceptLegacySignatureText = try v(.acceptLegacySignatureText, d.acceptLegacySignatureText)
        compatibility = try v(.compatibility, d.compatibility)
        assignTablesBelow = try c.decodeIfPresent(Int.self, forKey: .assignTablesBelow)
        manufacturer = try v(.manufacturer, d.manufacturer)
        maEndpoint = try c.decodeIfPresent(String.self, forKey: .maEndpoint)
        logLevel = try v(.logLevel, d.logLevel)
        maxBodyBytes = try v(.maxBodyBytes, d.maxBodyBytes)
        maxBulkBodyBytes = try v(.maxBulkBodyBytes, d.maxBulkBodyBytes)
        maxBatchItems = try v(.maxBatchItems, d.maxBatchItems)
        rateLimitPerSecond = try v(.rateLimitPerSecond, d.rateLimitPerSecond)
        writeRateLimitPerSecond = try v(.writeRateLimitPerSecond, d.writeRateLimitPerSecond)
        authFailuresPerSecond = try v(.authFailuresPerSecond, d.authFailuresPerSecond)
        minSeqWaitSeconds = try v(.minSeqWaitSeconds, d.minSeqWaitSeconds)
        leaseTTLSeconds = try v(.leaseTTLSeconds, d.leaseTTLSeconds)
        logPollSeconds = try v(.logPollSeconds, d.logPollSeconds)
        peerCertFile = try c.decodeIfPresent(String.self, forKey: .peerCertFile)
        peerKeyFile = try c.decodeIfPresent(String.self, forKey: .peerKeyFile)
        peerCAFile = try c.decodeIfPresent(String.self, forKey: .peerCAFile)
        logVerificationKey = try c.decodeIfPresent(String.self, forKey: .logVerificationKey)
        timing = try v(.timing, d.timing)
        isolatedReadyAfterSeconds = try v(.isolatedReadyAfterSeconds, d.isolatedReadyAfterSeconds)
        keyTableRetireGraceSeconds = try v(.keyTableRetireGraceSeconds, d.keyTableRetireGraceSeconds)
        crlValidityHours = try v(.crlValidityHours, d.crlValidityHours)
        abuseWarnPerDay = try v(.abuseWarnPerDay, d.abuseWarnPerDay)
        abuseRevokePerDay = try v(.abuseRevokePerDay, d.abuseRevokePerDay)
        abuseReportFloor = try v(.abuseReportFloor, d.abuseReportFloor)
        abuseWarnOnly = try v(.abuseWarnOnly, d.abuseWarnOnly)
        publicTLSCertFile = try c.decodeIfPresent(String.self, forKey: .publicTLSCertFile)
        publicTLSKeyFile = try c.decodeIfPresent(String.self, forKey: .publicTLSKeyFile)
        publicTLSClientCAFile = try c.decodeIfPresent(String.self, forKey: .publicTLSClientCAFile)
        publicTLSClientAuth = try c.decodeIfPresent(PublicClientAuth.self, forKey: .publicTLSClientAuth)
        hstsMaxAgeSeconds = try v(.hstsMaxAgeSeconds, d.hstsMaxAgeSeconds)
        maxStalenessSeconds = try c.decodeIfPresent(Double.self, forKey: .maxStalenessSeconds)
        stalenessMode = try v(.stalenessMode, d.stalenessMode)
    }

    /// Longest grace a key-table retirement may have: 10 years.
    package static let maxRetireGraceSeconds = 10 * 366 * 86_400

    /// True when the public port serves HTTPS.
    package var publicTLSEnabled: Bool { publicTLSCertFile != nil }

    /// How client certificates are treated on the public port (see `publicTLSClientAuth`).
    package var effectivePublicClientAuth: PublicClientAuth {
        guard publicTLSEnabled else { return .off }
        return publicTLSClientAuth ?? (publicTLSClientCAFile == nil ? .off : .optional)
    }

    /// The public listener's URL (`https` when `public_tls_cert_file` is set).
    package var publicURL: String { "\(publicTLSEnabled ? "https" : "http")://\(publicHost):\(publicPort)" }

    /// True when the peer channel is configured.
    package var peerEnabled: Bool { peerCertFile != nil }

    /// Abuse detection thresholds (validated: 0 ... UInt32.max).
    package var abuseThresholds: AbuseThresholds {
        AbuseThresholds(warnPerWindow: UInt32(clamping: abuseWarnPerDay), revokePerWindow: UInt32(clamping: abuseRevokePerDay),
                        reportFloor: UInt32(clamping: abuseReportFloor), warnOnly: abuseWarnOnly)
    }

    /// The address outgoing peer connections bind to, or nil for the system's choice (see `peerSourceAddress`).
    package var effectivePeerSourceAddress: String? {
        if let address = peerSourceAddress { return address.isEmpty ? nil : address }
        return Self.isIPAddress(peerHost) && !["0.0.0.0", "::"].contains(peerHost) ? peerHost : nil
    }

    /// True for an IPv4 or IPv6 address literal (not a host name).
    package static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// True when keyless callers may use `/validate` and `/v1/validate/batch`: `anonymous_validation`, or the `birthmark` profile.
    package var effectiveAnonymousValidation: Bool { anonymousValidation || compatibility == .birthmark }

    /// True when keyless callers may use `/validate-cert` (only the `birthmark` profile: its aggregator sends no key).
    package var anonymousCertificateValidation: Bool { compatibility == .birthmark }
    /// Whether `/validate-cert` also accepts camera-pi's signed text: set, or in the `birthmark` profile (whose camera
    /// signs that text; docs/ARCHITECTURE.md §1.6).
    package var effectiveAcceptLegacySignatureText: Bool { acceptLegacySignatureText || compatibility == .birthmark }

    /// The bound new devices' table ids stay below, or nil for none (see `assignTablesBelow`).
    package var effectiveAssignTablesBelow: Int? {
        assignTablesBelow ?? (compatibility == .birthmark ? CompatibilityProfile.birthmarkTableBound : nil)
    }

    /// The staleness limit in force: `max_staleness_seconds` when `staleness_mode` is not `off`.
    package var stalenessLimit: Duration? {
        guard stalenessMode != .off, let seconds = maxStalenessSeconds else { return nil }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// The maEndpoint actually written into certificates.
    package var effectiveMAEndpoint: String { maEndpoint ?? "\(publicURL)/validate" }
}

/// A compatibility profile (`compatibility`): what a node turns on for clients it cannot change.
package enum CompatibilityProfile: String, Codable, Sendable {
    /// Our protocol only.
    case none
    /// Today's Birthmark camera and aggregator, unmodified (no key on validation; tables below 250; the original SMA's routes).
    case birthmark

    /// The Birthmark aggregator's token model refuses `table_id >= 250`.
    package static let birthmarkTableBound = 250
}

/// What a node does when its knowledge of the log is older than `max_staleness_seconds` (`staleness_mode`).
package enum StalenessMode: String, Codable, Sendable {
    /// Nothing: PASS as usual (the age is still measured).
    case off
    /// PASS, but log (at most once a minute) and count `sma_stale_validations_total{mode="warn"}`.
    case warn
    /// Answer FAIL (`valid: false`, a message naming the staleness) instead of a stale PASS.
    case fail
}

/// Client certificates on the public port (`public_tls_client_auth`).
package enum PublicClientAuth: String, Codable, Sendable {
    /// Not asked for.
    case off
    /// Asked for; a presented one must verify against the client CA, none means API keys as usual.
    case optional
    /// No handshake without one that verifies.
    case require
}

/// A configuration problem; its code is the configuration key at fault.
package struct ConfigurationError: CodedError {
    package var key: String
    package var problem: String
    package var file: String
    package var line: Int
    package init(key: String, problem: String, file: String = #fileID, line: Int = #line) {
        self.key = key
        self.problem = problem
        self.file = file
        self.line = line
    }
    package var code: String { key }
    package var reason: String { problem }
    package var description: String { "configuration: \(key): \(problem)" }
}

extension NodeConfiguration {
    /// Loads `path`, applies `SMA_<KEY>` environment overrides (e.g. `SMA_DATABASE_URL`), validates.
    package static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> NodeConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(key: "--config", problem: "cannot read \(path)")
        }
        var object: [String: Any]
        do {
            guard let o = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ConfigurationError(key: "--config", problem: "\(path) must hold a JSON object")
            }
            object = o
        } catch let e as ConfigurationError { throw e } catch {
            throw ConfigurationError(key: "--config", problem: "\(path) is not valid JSON")
        }
        let known = Set(CodingKeys.allKeys)
        if let unknown = object.keys.first(where: { !known.contains($0) }) {
            throw ConfigurationError(key: unknown, problem: "unknown key in \(path)")
        }
        for key in known {
            guard let raw = environment["SMA_" + key.uppercased()] else { continue }
            if let i = Int(raw) { object[key] = i }
            else if let d = Double(raw) { object[key] = d }
            else if raw == "true" || raw == "false" { object[key] = raw == "true" }
            else if key == "seeds" { object[key] = raw.split(separator: ",").map(String.init) }
            else { object[key] = raw }
        }
        let merged = try JSONSerialization.data(withJSONObject: object)
        let config: NodeConfiguration
        do {
            config = try JSONDecoder().decode(NodeConfiguration.self, from: merged)
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            throw ConfigurationError(key: ctx.codingPath.map(\.stringValue).joined(separator: "."), problem: "has the wrong type")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw ConfigurationError(key: ctx.codingPath.map(\.stringValue).joined(separator: "."), problem: "has an invalid value")
        }
        try config.validate()
        return config
    }

    package func validate() throws {
        if databaseURL.isEmpty { throw ConfigurationError(key: "database_url", problem: "is required") }
        if kekFile.isEmpty { throw ConfigurationError(key: "kek_file", problem: "is required") }
        if nodeID.isEmpty || nodeID.count > 64 { throw ConfigurationError(key: "node_id", problem: "must be 1 to 64 characters") }
        for (key, port) in [("public_port", publicPort), ("peer_port", peerPort)] where !(1...65535).contains(port) {
            throw ConfigurationError(key: key, problem: "must be a port number 1-65535")
        }
        if let address = peerSourceAddress, !address.isEmpty, !Self.isIPAddress(address) {
            throw ConfigurationError(key: "peer_source_address", problem: "must be an IP address of this machine (or \"\" for the system's choice)")
        }
        if databasePoolSize < 1 { throw ConfigurationError(key: "database_pool_size", problem: "must be at least 1") }
        if maxBodyBytes < 512 { throw ConfigurationError(key: "max_body_bytes", problem: "must be at least 512") }
        if maxBatchItems < 1 { throw ConfigurationError(key: "max_batch_items", problem: "must be at least 1") }
        if leaseTTLSeconds < 1 { throw ConfigurationError(key: "lease_ttl_seconds", problem: "must be at least 1") }
        if !(0.01...60).contains(logPollSeconds) { throw ConfigurationError(key: "log_poll_seconds", problem: "must be between 0.01 and 60") }
        let peerFiles = [peerCertFile, peerKeyFile, peerCAFile]
        if peerFiles.contains(where: { $0 != nil }) && peerFiles.contains(where: { $0 == nil }) {
            throw ConfigurationError(key: "peer_cert_file", problem: "peer_cert_file, peer_key_file and peer_ca_file go together")
        }
        if (publicTLSCertFile == nil) != (publicTLSKeyFile == nil) {
            throw ConfigurationError(key: publicTLSCertFile == nil ? "public_tls_cert_file" : "public_tls_key_file",
                                     problem: "public_tls_cert_file and public_tls_key_file go together")
        }
        if publicTLSClientCAFile != nil && !publicTLSEnabled {
            throw ConfigurationError(key: "public_tls_client_ca_file", problem: "needs public_tls_cert_file and public_tls_key_file (client certificates need HTTPS)")
        }
        if let mode = publicTLSClientAuth, mode != .off, publicTLSClientCAFile == nil {
            throw ConfigurationError(key: "public_tls_client_auth", problem: "\(mode.rawValue) needs public_tls_client_ca_file (the CA that issues the clients' certificates)")
        }
        if hstsMaxAgeSeconds < 0 { throw ConfigurationError(key: "hsts_max_age_seconds", problem: "must be 0 (no header) or more") }
        if let k = logVerificationKey, k.utf8.count != 64 || Hex.decode(k) == nil {
            throw ConfigurationError(key: "log_verification_key", problem: "must be 64 hex digits (sma-node log-key prints it)")
        }
        if !(0...NodeConfiguration.maxRetireGraceSeconds).contains(keyTableRetireGraceSeconds) {
            throw ConfigurationError(key: "key_table_retire_grace_seconds", problem: "must be between 0 and \(NodeConfiguration.maxRetireGraceSeconds)")
        }
        if !(0.01...8760).contains(crlValidityHours) {
            throw ConfigurationError(key: "crl_validity_hours", problem: "must be between 0.01 and 8760")
        }
        for (key, value) in [("abuse_warn_per_day", abuseWarnPerDay), ("abuse_revoke_per_day", abuseRevokePerDay)]
            where !(0...Int(UInt32.max)).contains(value) {
            throw ConfigurationError(key: key, problem: "must be from 0 (off) to \(UInt32.max)")
        }
        if !(1...Int(UInt32.max)).contains(abuseReportFloor) {
            throw ConfigurationError(key: "abuse_report_floor", problem: "must be at least 1")
        }
        if let bound = assignTablesBelow, bound < BirthmarkProtocol.tablesPerDevice {
            throw ConfigurationError(key: "assign_tables_below", problem: "must be at least \(BirthmarkProtocol.tablesPerDevice) (a device needs three tables)")
        }
        if let seconds = maxStalenessSeconds, !(seconds > 0 && seconds <= 86_400 * 365) {
            throw ConfigurationError(key: "max_staleness_seconds", problem: "must be more than 0 seconds (and at most a year)")
        }
        if stalenessMode != .off && maxStalenessSeconds == nil {
            throw ConfigurationError(key: "staleness_mode", problem: "\(stalenessMode.rawValue) needs max_staleness_seconds")
        }
        if !["lan", "wan"].contains(timing) { throw ConfigurationError(key: "timing", problem: "must be lan or wan") }
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) {
            throw ConfigurationError(key: "log_level", problem: "must be one of trace, debug, info, notice, warning, error")
        }
    }
}

extension NodeConfiguration.CodingKeys: CaseIterable {
    package static var allKeys: [String] { allCases.map(\.rawValue) }
}
