import Core
package import NodeServices
import Replication
package import Hummingbird
package import Foundation
import HTTPTypes
import Logging
import NIOCore

/// Key-table compromise tooling (admins): list the tables, the devices holding one, retire one.
extension APIServer {
    /// `/api/v1/key-tables` (admins): list, devices holding a table, retire.
    func keyTableRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.group().add(middleware: authenticate(.admin))
            .get("", use: listKeyTables)
            .get("/{id}/devices", use: keyTableDevices)
        routes.group().add(middleware: authenticate(.admin, write: true))
            .post("/{id}/retire", use: retireKeyTable)
        return routes
    }

    // MARK: key tables

    package struct KeyTableList: Encodable {
        package var key_tables: [KeyTableInfo]
    }

    /// `GET /api/v1/key-tables` (admin): every table, its state, retire time and device count.
    @Sendable package func listKeyTables(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await awaitMinSeq(request, fromDatabase: true)
        let tables = try await store.keyTables()
        return try json(KeyTableList(key_tables: tables))
    }

    /// The `{id}` path parameter: a key table id.
    package func tableID(_ context: SMARequestContext) throws -> Int {
        guard let id = Int(try context.parameters.require("id")), id >= 0 else {
            throw InputError(field: "id", "must be a non-negative integer (a key table id)")
        }
        return id
    }

    /// `GET /api/v1/key-tables/{id}/devices?after=&limit=` (admin): the devices holding a table, by serial.
    @Sendable package func keyTableDevices(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await awaitMinSeq(request, fromDatabase: true)
        let id = try tableID(context)
        let q = request.uri.queryParameters
        let after = try Self.text(q.get("after"), field: "after")
        let limit = try Self.pageLimit(q.get("limit"))
        let page = try await store.devices(holdingTable: id, after: after, limit: limit)
        guard let page else { throw NodeError(.notFound, "no key table with this id") }
        return try json(DevicePage(devices: page, next_after: page.count == limit ? page.last?.device_serial : nil))
    }

    package struct RetireRequest: Decodable { var grace_seconds: Int? }
    package struct RetireResponse: Encodable {
        package var id: Int
        /// `retiring` (grace running) or `retired` (grace 0).
        package var state: String
        package var retire_at: String
    }

    /// `POST /api/v1/key-tables/{id}/retire` (admin): no new assignments; tokens FAIL after the grace.
    @Sendable package func retireKeyTable(_ request: Request, context: SMARequestContext) async throws -> Response {
        let principal = try context.authenticatedPrincipal()
        let id = try tableID(context)
        let buffer = try await request.collectBody(upTo: config.maxBodyBytes, context: context)
        guard let writer = localWriter() else { return try await forwardToLeader(request, body: buffer, context: context) }
        let grace = buffer.readableBytes == 0 ? nil : try Self.decode(RetireRequest.self, from: buffer).grace_seconds
        let seconds = grace ?? config.keyTableRetireGraceSeconds
        guard (0...NodeConfiguration.maxRetireGraceSeconds).contains(seconds) else {
            throw InputError(field: "grace_seconds", "must be an integer from 0 to \(NodeConfiguration.maxRetireGraceSeconds)")
        }
        let (effective, seq) = try await writer.retireTable(id, graceSeconds: seconds, actor: auditActor(principal, context))
        context.logger.notice("key table retired", metadata: ["key_table.id": "\(id)", "key_table.grace_seconds": "\(seconds)",
                                                             "api_key.name": "\(principal.name)", "log.seq": "\(seq)"])
        let at = Date(timeIntervalSince1970: Double(effective) / 1000)
        return try json(RetireResponse(id: id, state: seconds == 0 ? "retired" : "retiring", retire_at: Self.iso(at)), seq: seq)
    }

    package static func iso(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
