import Foundation
import Logging
import Synchronization
import Testing
@testable import Node

/// The node's log handler writes exactly what `StreamLogHandler` writes (operators' tools and cluster scripts read
/// these lines), while request metadata set on every request is only formatted for a line that is written.
@Suite struct NodeLogHandlerTests {
    final class Lines: TextOutputStream, Sendable {
        let lines = Mutex<[String]>([])
        func write(_ string: String) { lines.withLock { $0.append(string) } }
        /// Lines without the timestamp (the first field), which may differ by a second between two handlers.
        var untimed: [String] { lines.withLock { $0 }.map { String($0.drop { $0 != " " }) } }
    }

    @Test func linesAreThoseOfStreamLogHandlerForEveryMetadataMix() {
        let ours = Lines(), theirs = Lines()
        var a = Logger(label: "sma.test") { NodeLogHandler(label: $0, stream: ours, level: .info) }
        var b = Logger(label: "sma.test") { StreamLogHandler(label: $0, stream: theirs, metadataProvider: nil) }
        b.logLevel = .info
        for logger in [a, b] {
            logger.info("no metadata")
            logger.debug("below the level: not written")
        }
        for key in ["node.id", "hb.request.id", "a"] {
            a[metadataKey: key] = "v-\(key)"
            b[metadataKey: key] = "v-\(key)"
        }
        for logger in [a, b] {
            logger.notice("handler metadata")
            logger.warning("explicit metadata wins", metadata: ["a": "explicit", "z": ["x", "y"], "m": ["k": "v"]])
            logger.error("with an error", metadata: ["error": "\(CancellationError())"])
        }
        a[metadataKey: "node.id"] = nil
        b[metadataKey: "node.id"] = nil
        a.info("one key removed")
        b.info("one key removed")
        #expect(ours.untimed.count == 5)
        #expect(ours.untimed == theirs.untimed)
        #expect(ours.untimed[2].contains("a=explicit") && ours.untimed[2].contains("hb.request.id=v-hb.request.id"))
    }
}
