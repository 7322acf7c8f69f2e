public import Core
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A registration-log entry on the peer wire (JSON; bytes as base64). Receivers verify before applying.
public struct WireLogEntry: Codable, Sendable, Equatable {
    public var seq: Int64
    /// base64 of the previous entry's chain hash.
    public var prev: String
    public var epoch: Int64
    public var ts: Int64
    public var kind: String
    public var payload: String
    public var signature: String

    public init(_ e: LogEntry) {
        seq = e.seq
        prev = Data(e.previousHash).base64EncodedString()
        epoch = e.epoch
        ts = e.timestampMillis
        kind = e.kind.rawValue
        payload = Data(e.payload).base64EncodedString()
        signature = Data(e.signature).base64EncodedString()
    }

    /// The entry, or a `.malformedPayload` error naming the seq.
    public func entry() throws(LogError) -> LogEntry {
        guard let k = LogEntryKind(rawValue: kind), let p = Data(base64Encoded: payload), let s = Data(base64Encoded: signature),
              let h = Data(base64Encoded: prev), h.count == 32 else {
            throw LogError(.malformedPayload, seq: seq, "entry is not a well-formed log entry")
        }
        return LogEntry(seq: seq, previousHash: Array(h), epoch: epoch, timestampMillis: ts, kind: k, payload: Array(p), signature: Array(s))
    }
}

/// `GET /peer/v1/log?after=N&limit=M` answer and `POST /peer/v1/log` body.
public struct LogBatch: Codable, Sendable {
    public var entries: [WireLogEntry]
    /// The sender's applied seq.
    public var head: Int64
    public init(entries: [WireLogEntry], head: Int64) {
        self.entries = entries
        self.head = head
    }
}

/// `POST /peer/v1/log` answer.
public struct PushAnswer: Codable, Sendable {
    /// Entries newly applied by the receiver.
    public var applied: Int
    /// The receiver's applied seq after the push.
    public var head: Int64
    public init(applied: Int, head: Int64) {
        self.applied = applied
        self.head = head
    }
}

/// `POST /peer/v1/gossip` body and answer: the sender's member table and abuse-detection reports
/// (a request carries every report the sender holds; an answer only those the requester lacks or has older).
public struct GossipEnvelope: Codable, Sendable {
    public var from: String
    public var members: [MemberInfo]
    /// Heavy-hitter reports (absent from nodes that do not run abuse detection).
    public var abuse: [AbuseReport]?
    public init(from: String, members: [MemberInfo], abuse: [AbuseReport]? = nil) {
        self.from = from
        self.members = members
        self.abuse = abuse
    }
}
