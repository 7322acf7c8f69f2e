import Core
package import NodeServices
import Replication
package import Hummingbird
import Foundation
import Logging
import NIOCore

extension APIServer {
    /// `/api/v1/devices`: provisioning (provisioners), look-up (provisioners), listing, revocation and
    /// reinstatement (admins).
    func deviceRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        let provisioning = routes.group().add(middleware: authenticate(.provisioner, write: true))
            .post("/provision", use: provision)
            .post("/provision/bulk", use: provisionBulk)
        // The original SMA's phase-2 path (phones), `birthmark` profile only: the same provisioning, with `device_secret`.
        if config.compatibility == .birthmark { provisioning.post("/provision-phase2", use: provision) }
        routes.group().add(middleware: authenticate(.provisioner))
            .get("/{serial}", use: getDevice)
        routes.group().add(middleware: authenticate(.admin))
            .get("", use: listDevices)
        routes.group().add(middleware: authenticate(.admin, write: true))
            .post("/{serial}/revoke", use: revoke)
            .post("/{serial}/reinstate", use: reinstate)
        return routes
    }

    /// `POST /api/v1/devices/provision` -> 201 with the provisioning file.
    @Sendable package func provision(_ request: Request, context: SMARequestContext) async throws -> Response {
        let principal = try context.authenticatedPrincipal()
        let bytes = try await request.collectBody(upTo: config.maxBodyBytes, context: context)
        guard let writer = localWriter() else { return try await forwardToLeader(request, body: bytes, context: context) }
        let body = try Self.decode(ProvisionRequest.self, from: bytes)
        let (file, seq) = try await writer.provision(body, actor: auditActor(principal, context))
        context.logger.info("device provisioned", metadata: ["device.serial": "\(file.device_serial)", "log.seq": "\(seq)"])
        return try json(file, status: .created, seq: seq)
    }

    package struct BulkRequest: Decodable { var devices: BoundedList<ProvisionRequest> }
    package struct BulkResponse: Encodable { var devices: [ProvisionResponse] }

    /// `POST /api/v1/devices/provision/bulk`: one transaction for the whole batch.
    @Sendable package func provisionBulk(_ request: Request, context: SMARequestContext) async throws -> Response {
        let principal = try context.authenticatedPrincipal()
        let (bytes, writer) = try await largeBodies.admit { () async throws -> (ByteBuffer, DeviceService?) in
            (try await request.collectBody(upTo: config.maxBulkBodyBytes, context: context), localWriter())
        }
        guard let writer else { return try await forwardToLeader(request, body: bytes, context: context) }
        let devices = try Self.decode(BulkRequest.self, from: bytes, maxItems: config.maxBatchItems).devices.items
        guard !devices.isEmpty else { throw InputError(field: "devices", "must hold at least one device") }
        let (files, seq) = try await writer.provision(bulk: devices, actor: auditActor(principal, context))
        context.logger.info("devices provisioned in bulk", metadata: ["devices.count": "\(files.count)", "log.seq": "\(seq)"])
        return try json(BulkResponse(devices: files), status: .created, seq: seq)
    }

    /// `GET /api/v1/devices/{serial}` (no secrets).
    @Sendable package func getDevice(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await awaitMinSeq(request, fromDatabase: true)
        let serial = try deviceSerial(context)
        guard let d = try await store.device(serial: serial.string) else {
            throw NodeError(.notFound, "no device with this serial")
        }
        return try json(d)
    }

    package struct DevicePage: Encodable {
        package var devices: [DeviceDetails]
        package var next_after: String?
    }

    /// A path or query value that will reach PostgreSQL as text: PostgreSQL text cannot hold NUL,
    /// so a value with one is the caller's mistake (422), not a database error.
    package static func text(_ value: String?, field: String) throws -> String? {
        guard let value else { return nil }
        guard !value.utf8.contains(0) else { throw InputError(field: field, "must not contain NUL characters") }
        guard value.utf8.count <= 1024 else { throw InputError(field: field, "must be at most 1024 bytes") }
        return value
    }

    /// A `limit` query value: 1 to 1000, default 100 (every paged route).
    package static func pageLimit(_ raw: String?) throws -> Int {
        guard let raw else { return 100 }
        guard let l = Int(raw), (1...1000).contains(l) else { throw InputError(field: "limit", "must be an integer from 1 to 1000") }
        return l
    }

    /// The `{serial}` path parameter, percent-decoded (the router hands it over as sent: `CAM%200001`), checked
    /// against the serial alphabet (docs/ARCHITECTURE.md §1.4) and never normalised: another spelling of a serial
    /// is refused (422), not matched. A device logged before these rules keeps its exact bytes reachable, so that
    /// it can still be looked up, revoked and reinstated.
    func deviceSerial(_ context: SMARequestContext) throws -> DeviceSerial {
        let raw = try context.parameters.require("serial")
        guard let decoded = Self.percentDecoded(raw) else {
            throw InputError(field: "serial", "must be percent-encoded UTF-8")
        }
        do {
            return try DeviceSerial(decoded, field: "serial")
        } catch {
            let legacy = DeviceSerial(unchecked: decoded)
            if !decoded.utf8.contains(0), state.registry.device(serial: legacy) != nil { return legacy }
            throw error
        }
    }

    /// `raw` with every `%XX` replaced by its byte, as exact UTF-8; nil for a malformed escape or invalid UTF-8.
    /// (Foundation's `removingPercentEncoding` drops a leading byte order mark, so `%EF%BB%BFCAM1` would name `CAM1`.)
    package static func percentDecoded(_ raw: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.utf8.count)
        var it = raw.utf8.makeIterator()
        while let b = it.next() {
            guard b == UInt8(ascii: "%") else { bytes.append(b); continue }
            guard let hi = it.next().flatMap(Self.hexValue), let lo = it.next().flatMap(Self.hexValue) else { return nil }
            bytes.append(hi << 4 | lo)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `GET /api/v1/devices?family=&after=&limit=` (admin; keyset paging by serial).
    @Sendable package func listDevices(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await awaitMinSeq(request, fromDatabase: true)
        let q = request.uri.queryParameters
        let family = try Self.text(q.get("family"), field: "family")
        let after = try Self.text(q.get("after"), field: "after")
        let limit = try Self.pageLimit(q.get("limit"))
        let page = try await store.devices(family: family, after: after, limit: limit)
        return try json(DevicePage(devices: page, next_after: page.count == limit ? page.last?.device_serial : nil))
    }

    package struct RevokeRequest: Decodable { var reason: String? }
    package struct DeviceStatus: Encodable {
        package var device_serial: String
        package var revoked: Bool
        package var changed: Bool
    }

    /// What a revocation change did: answered by the leader (forwarded), or done here with its log seq (nil: unchanged).
    enum RevocationChange {
        case forwarded(Response)
        case done(DeviceSerial, seq: Int64?)
    }

    /// Revokes (`reason` reads it from the body) or reinstates (`reason` nil) `{serial}`, on the leader: here, or
    /// forwarded. Shared by our routes and the original SMA's blacklist routes.
    func changeRevocation(_ request: Request, _ context: SMARequestContext,
                          reason: ((ByteBuffer) throws -> String)?) async throws -> RevocationChange {
        let principal = try context.authenticatedPrincipal()
        let serial = try deviceSerial(context)
        let buffer = try await request.collectBody(upTo: config.maxBodyBytes, context: context)
        guard let writer = localWriter() else { return .forwarded(try await forwardToLeader(request, body: buffer, context: context)) }
        let seq: Int64?
        if let reason {
            seq = try await writer.revoke(serial: serial, reason: try reason(buffer), actor: auditActor(principal, context))
        } else {
            seq = try await writer.reinstate(serial: serial, actor: auditActor(principal, context))
        }
        context.logger.notice(reason == nil ? "device reinstated" : "device revoked",
                              metadata: ["device.serial": "\(serial)", "api_key.name": "\(principal.name)", "log.seq": "\(seq.map(String.init) ?? "unchanged")"])
        return .done(serial, seq: seq)
    }

    /// `POST /api/v1/devices/{serial}/revoke` (admin). Idempotent.
    @Sendable package func revoke(_ request: Request, context: SMARequestContext) async throws -> Response {
        let change = try await changeRevocation(request, context) { buffer in
            buffer.readableBytes == 0 ? "" : (try Self.decode(RevokeRequest.self, from: buffer).reason ?? "")
        }
        switch change {
        case .forwarded(let response): return response
        case .done(let serial, let seq):
            return try json(DeviceStatus(device_serial: serial.string, revoked: true, changed: seq != nil), seq: seq ?? state.applied)
        }
    }

    /// `POST /api/v1/devices/{serial}/reinstate` (admin). Idempotent.
    @Sendable package func reinstate(_ request: Request, context: SMARequestContext) async throws -> Response {
        switch try await changeRevocation(request, context, reason: nil) {
        case .forwarded(let response): return response
        case .done(let serial, let seq):
            return try json(DeviceStatus(device_serial: serial.string, revoked: false, changed: seq != nil), seq: seq ?? state.applied)
        }
    }
}
