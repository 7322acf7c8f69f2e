package import Core
package import NodeServices
import Replication
package import Hummingbird
import Foundation
import NIOCore

extension APIServer {
    /// The operator's status page and its data (public, no secrets).
    func statusRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.get("/v1/status", use: statusJSON)
        routes.get("/status", use: statusPage)
        return routes
    }

    package struct StatusResponse: Encodable {
        package struct Node: Encodable {
            package var id: String
            package var role: String
            /// `alive`, `suspect` or `dead` (gossip failure detector).
            package var status: String
            package var is_leader: Bool
            package var ready: Bool
            package var applied_seq: Int64
            package var lag_entries: Int64
            /// How long the node has been behind, as it reports it; absent when it did not answer.
            package var lag_seconds: Double?
            package var public_url: String
            /// Whether its validation series is included in `validations` (it answered within 1 s).
            package var reporting: Bool
        }
        package struct Region: Encodable {
            package var name: String
            package var nodes: [Node]
        }
        package struct Leader: Encodable {
            package var id: String?
            package var epoch: Int64
        }
        package struct Validations: Encodable {
            package var bucket_seconds: Int64
            /// Cluster-wide PASS/FAIL counts per bucket (sum over the reporting nodes), oldest first.
            package var buckets: [ValidationSeries.Bucket]
            package var nodes_reporting: [String]
            package var nodes_missing: [String]
        }
        package var node_id: String
        package var region: String
        package var generated_at: String
        package var leader: Leader
        package var head_seq: Int64
        package var regions: [Region]
        package var validations: Validations
        package var recent_revocations: [Revocation]
    }

    /// `GET /v1/status`: what the status page shows — members by region with role, gossip status, applied seq and
    /// lag; the leader; cluster-wide PASS/FAIL per 10 s over 15 minutes (this node's own series plus every live
    /// peer's, fetched over the mTLS peer channel with a 1 s timeout); the latest revocations from this node's database.
    @Sendable package func statusJSON(_ request: Request, context: SMARequestContext) async throws -> Response {
        let now = Date()
        let fence = leadership.fence
        let view = forwarder?.view
        let mine = PeerEndpoint.ownStatus(config: config, state: state, view: view)
        let head = max(view?.highestKnownSeq ?? 0, state.applied)
        var reports: [String: PeerStatus] = [config.nodeID: mine]
        var nodes: [(region: String, node: StatusResponse.Node)] = []
        var leaderID: String? = fence != nil ? config.nodeID : leadership.knownLeader.id
        var epoch = fence?.epoch ?? leadership.knownLeader.epoch
        if let view, let client = forwarder?.client {
            let members = view.members
            let leader = view.leader
            if fence == nil {
                leaderID = leader?.id
                epoch = leader?.leaderEpoch ?? epoch
            }
            let targets = members.filter { $0.info.id != config.nodeID && $0.status != .dead }.map { ($0.info.id, $0.info.peerURL) }
            let fetched = await statusCache.peers {
                await withTaskGroup(of: PeerStatus?.self) { group in
                    for (_, url) in targets { group.addTask { try? await client.status(url) } }
                    var out: [String: PeerStatus] = [:]
                    for await r in group { if let r { out[r.node_id] = r } }
                    return out
                }
            }
            reports.merge(fetched) { mine, _ in mine }
            for m in members {
                let isMe = m.info.id == config.nodeID
                let report = reports[m.info.id]
                let applied = max(report?.applied_seq ?? 0, isMe ? state.applied : m.info.appliedSeq)
                let lag = max(0, head - applied)
                nodes.append((m.info.region, .init(
                    id: m.info.id, role: m.info.role, status: isMe ? "alive" : m.status.rawValue, is_leader: m.info.id == leaderID,
                    ready: isMe ? state.isReady : m.status == .alive, applied_seq: applied, lag_entries: lag,
                    lag_seconds: lag == 0 ? 0 : report?.lag_seconds, public_url: m.info.publicURL, reporting: report != nil)))
            }
        } else {
            nodes.append((config.region, .init(
                id: config.nodeID, role: config.role.rawValue, status: "alive", is_leader: fence != nil, ready: state.isReady,
                applied_seq: state.applied, lag_entries: 0, lag_seconds: 0, public_url: config.publicURL,
                reporting: true)))
        }
        var byRegion: [String: [StatusResponse.Node]] = [:]
        for n in nodes { byRegion[n.region, default: []].append(n.node) }
        let regions = byRegion.keys.sorted().map { StatusResponse.Region(name: $0, nodes: byRegion[$0]!.sorted { $0.id < $1.id }) }
        let allIDs = nodes.map(\.node.id)
        let store = self.store
        // Public page: serials and times only; why a device was revoked is for admins (`GET /api/v1/devices/{serial}`).
        let revocations = ((try? await statusCache.revocations {
            try await store.recentRevocations(limit: 20)
        }) ?? []).map { Revocation(serial: $0.serial, reason: nil, revoked_at: $0.revoked_at) }
        return try json(StatusResponse(
            node_id: config.nodeID, region: config.region, generated_at: now.ISO8601Format(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            leader: .init(id: leaderID, epoch: epoch), head_seq: head, regions: regions,
            validations: .init(bucket_seconds: 10, buckets: ValidationSeries.sum(reports.values.map(\.validations)),
                               nodes_reporting: reports.keys.sorted(), nodes_missing: allIDs.filter { reports[$0] == nil }.sorted()),
            recent_revocations: revocations))
    }

    /// `GET /status`: the operator's status page (self-contained HTML; its script polls `/v1/status` every 5 s).
    @Sendable package func statusPage(_ request: Request, context: SMARequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: StatusPage.html)))
    }
}
