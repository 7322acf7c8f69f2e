import Core
import Foundation
import SMAPostgres
import Hummingbird
import NIOCore
import Replication
import Logging

extension APIServer {
    struct StatsResponse: Encodable {
        var node_id: String
        var region: String
        var uptime_seconds: Int
        var database: Store.Stats
        var memory: MemoryCounts
        struct MemoryCounts: Encodable {
            var devices: Int
            var revoked_devices: Int
            var key_tables: Int
            var retired_key_tables: Int
            var applied_seq: Int64
            var api_keys: Int
        }
    }

    /// `GET /stats` (admin).
    @Sendable func stats(_ request: Request, context: SMARequestContext) async throws -> Response {
        _ = try authorize(request, context, .admin)
        let db = try await pool.withConnection { c in try Store.stats(c) }
        let m = state.registry.counts
        return try json(StatsResponse(
            node_id: config.nodeID, region: config.region, uptime_seconds: Int(Date().timeIntervalSince(startedAt)), database: db,
            memory: .init(devices: m.devices, revoked_devices: m.revoked, key_tables: m.keyTables, retired_key_tables: m.retiredTables,
                          applied_seq: state.applied, api_keys: state.apiKeys.count)))
    }

    struct ClusterResponse: Encodable {
        struct Member: Encodable {
            var id: String
            var region: String
            var role: String
            var public_url: String
            var peer_url: String
            var applied_seq: Int64
            var lag: Int64
            var ready: Bool
            var is_leader: Bool
            var status: String
        }
        struct Leader: Encodable {
            var id: String?
            var epoch: Int64
        }
        var node_id: String
        var members: [Member]
        var regions: [String: [String]]
        var leader: Leader
        var applied_seq: Int64
        var head_seq: Int64
    }

    /// `GET /v1/cluster`: members, regions, leader, applied seq and lag (no authentication; no secrets).
    @Sendable func cluster(_ request: Request, context: SMARequestContext) async throws -> Response {
        let fence = leadership.fence
        let me = ClusterResponse.Member(
            id: config.nodeID, region: config.region, role: config.role.rawValue,
            public_url: "http://\(config.publicHost):\(config.publicPort)", peer_url: "https://\(config.peerHost):\(config.peerPort)",
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
