package import Hummingbird
import NIOCore
import Synchronization

/// Reading request bodies within bounds.
///
/// A body larger than its route accepts is answered 413 *after* the rest of it is read and discarded, up to
/// `drainLimit` bytes, so a client that writes its whole body before reading (Python's urllib, for one) sees the
/// answer instead of hanging until its own timeout; a body larger than that is cut short: the 413 goes out and the
/// connection is closed. A body that ends early or breaks (the client went away mid-body) is the client's mistake:
/// 400, and the connection is closed.
extension Request {
    /// Bytes of an oversized body read and discarded before answering 413 (beyond them the connection is closed).
    static let drainLimit = 16 << 20

    /// Collects the body, at most `limit` bytes.
    package func collectBody(upTo limit: Int, context: SMARequestContext) async throws -> ByteBuffer {
        context.bodyRead.set()
        var collected = ByteBuffer()
        var seen = 0
        do {
            for try await part in body {
                seen += part.readableBytes
                if seen <= limit {
                    var part = part
                    collected.writeBuffer(&part)
                } else if seen - limit > Self.drainLimit {
                    throw APIError.bodyTooLarge(limit: limit, closeConnection: true)
                }
            }
        } catch let error as APIError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            var e = APIError(.badRequest, code: "invalid_body", "the request body could not be read (truncated, or the connection broke)")
            e.closeConnection = true
            throw e
        }
        guard seen <= limit else { throw APIError.bodyTooLarge(limit: limit, closeConnection: false) }
        return collected
    }
}

extension Request {
    /// Reads and discards what is left of the body, at most `limit` bytes; true when it ended within them.
    /// Used on error answers given before the handler read the body (a refused key, an unknown route), so a client
    /// that writes its whole body before reading gets the answer.
    func drainBody(upTo limit: Int) async -> Bool {
        var seen = 0
        do {
            for try await part in body {
                seen += part.readableBytes
                if seen > limit { return false }
            }
            return true
        } catch {
            return false
        }
    }
}

extension APIError {
    static func bodyTooLarge(limit: Int, closeConnection: Bool) -> APIError {
        var e = APIError(.contentTooLarge, code: "body_too_large", "request body is larger than this endpoint accepts (\(limit) bytes)")
        e.closeConnection = closeConnection
        return e
    }
}

/// How many large bodies (bulk provisioning, batch validation, pushed log batches) are read and decoded at once:
/// beyond `limit`, a request is answered 503 at once (Retry-After: 1) instead of holding another few MiB.
package final class LargeBodyGate: Sendable {
    private let inFlight = Mutex(0)
    let limit: Int

    package init(limit: Int) { self.limit = limit }

    /// Runs `body` holding one of the `limit` places; 503 when none is free.
    package func admit<T>(_ body: () async throws -> T) async throws -> T {
        let admitted = inFlight.withLock { n -> Bool in
            guard n < limit else { return false }
            n += 1
            return true
        }
        guard admitted else {
            var e = APIError(.serviceUnavailable, code: "busy", "too many large requests in progress on this node; retry shortly")
            e.headers[.retryAfter] = "1"
            throw e
        }
        defer { inFlight.withLock { $0 -= 1 } }
        return try await body()
    }
}
