import Core
package import NodeServices
import Replication
package import Hummingbird
import Foundation
import Logging
import NIOCore

extension APIServer {
    /// `GET /stats` (admins) and `GET /v1/cluster` (public, no secrets).
    func clusterRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.get("/v1/cluster", use: cluster)
        routes.group().add(middleware: authenticate(.admin))
            .get("/stats", use: stats)
        return routes
    }

    package struct StatsResponse: Encodable {
        package var node_id: String
        package var region: String
        package var uptime_seconds: Int
        package var database: DatabaseStats
        package var memory: MemoryCounts
        /// Devices on which memory and this node's database disagree (device count and revoked flags, serials
        /// compared as bytes); null when memory has not reached the database's log head (catching up).
        package var registry_disagreements: Int?
        /// The original SMA's fields, only in the `birthmark` profile (absent otherwise).
        package var total_devices: Int? = nil
        package var devices_by_family: [String: Int]? = nil
        package var total_table_assignments: Int? = nil
        package var unique_tables_used: Int? = nil
        package var table_statistics: CompatStats.TableStatistics? = nil
        package struct MemoryCounts: Encodable {
            package var devices: Int
            package var revoked_devices: Int
            package var key_tables: Int
            package var retired_key_tables: Int
            package var applied_seq: Int64
            package var api_keys: Int
        }
    }

    /// `GET /stats` (admin); in the `birthmark` profile with the original SMA's fields too.
    @Sendable package func stats(_ request: Request, context: SMARequestContext) async throws -> Response {
        let db = try await store.stats()
        let m = state.registry.counts
        let disagreements = try await state.registryDisagreements(with: store)
        var answer = StatsResponse(
            node_id: config.nodeID, region: config.region, uptime_seconds: Int(Date().timeIntervalSince(startedAt)), database: db,
            memory: .init(devices: m.devices, revoked_devices: m.revoked, key_tables: m.keyTables, retired_key_tables: m.retiredTables,
                          applied_seq: state.applied, api_keys: state.apiKeys.count),
            registry_disagreements: disagreements)
        if config.compatibility == .birthmark {
            let c = try await compatStats(db)
            answer.total_devices = c.total_devices
            answer.devices_by_family = c.devices_by_family
            answer.total_table_assignments = c.total_table_assignments
            answer.unique_tables_used = c.unique_tables_used
            answer.table_statistics = c.table_statistics
        }
        return try json(answer)
    }

    package struct ClusterResponse: Encodable {
        package struct Member: Encodable {
            package var id: String
            package var region: String
            package var role: String
            package var public_url: String
            package var peer_url: String
            package var applied_seq: Int64
            package var lag: Int64
            package var ready: Bool
            package var is_leader: Bool
            package var status: String
        }
        package struct Leader: Encodable {
            package var id: String?
            package var epoch: Int64
        }
        package var node_id: String
        package var members: [Member]
        package var regions: [String: [String]]
        package var leader: Leader
        package var applied_seq: Int64
        package var head_seq: Int64
    }

    /// `GET /v1/cluster`: members, regions, leader, applied seq and lag (no authentication; no secrets).
    @Sendable package func cluster(_ request: Request, context: SMARequestContext) async throws -> Response {
        let fence = leadership.fence
        let me = ClusterResponse.Member(
            id: config.nodeID, region: config.region, role: config.role.rawValue,
            public_url: config.publicURL, peer_url: "https://\(config.peerHost):\(config.peerPort)",
            applied_seq: state.applied, lag: 0, ready: state.isReady, is_leader: fence != nil, status: "alive")
        guard let view = forwarder?.view else {
            let known = leadership.knownLeader
            return try json(ClusterResponse(node_id: config.nodeID, members: [me], regions: [config.region: [config.nodeID]],
                                            leader: .init(id: known.id, epoch: known.epoch), applied_seq: state.applied, head_seq: state.applied))
        }
        let head = max(view.highestKnownSeq, state.applied)
        var members: [ClusterResponse.Member] = []
        var regions: [String: [String]] = [:]
        let leader = view.leader
        let leaderID = fence != nil ? config.nodeID : leader?.id
        for m in view.members {
            let isMe = m.info.id == config.nodeID
            let applied = isMe ? state.applied : m.info.appliedSeq
            members.append(.init(id: m.info.id, region: m.info.region, role: m.info.role, public_url: m.info.publicURL, peer_url: m.info.peerURL,
                                 applied_seq: applied, lag: max(0, head - applied), ready: isMe ? state.isReady : m.status == .alive,
                                 is_leader: m.info.id == leaderID, status: isMe ? "alive" : m.status.rawValue))
            regions[m.info.region, default: []].append(m.info.id)
        }
        return try json(ClusterResponse(node_id: config.nodeID, members: members, regions: regions,
                                        leader: .init(id: leaderID, epoch: fence?.epoch ?? leader?.leaderEpoch ?? 0),
                                        applied_seq: state.applied, head_seq: head))
    }
}
