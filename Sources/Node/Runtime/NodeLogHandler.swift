package import Logging

/// The node's log handler: exactly `StreamLogHandler`'s lines, without its cost on the request path.
///
/// `StreamLogHandler` formats its whole metadata again on every `logger[metadataKey:] = …`, and Hummingbird sets
/// request metadata on every request, whether or not anything is then logged (~2.5 % of the node's CPU under wrk,
/// BENCHMARKS.md). This handler keeps the metadata as a dictionary and formats it only for a line that is written.
package struct NodeLogHandler: LogHandler {
    private var inner: StreamLogHandler
    package var metadata: Logger.Metadata = [:]

    /// A handler writing to standard error.
    package init(label: String, level: Logger.Level) {
        self.init(StreamLogHandler.standardError(label: label), level: level)
    }

    /// A handler writing to `stream` (tests).
    package init(label: String, stream: any TextOutputStream & Sendable, level: Logger.Level) {
        self.init(StreamLogHandler(label: label, stream: stream, metadataProvider: nil), level: level)
    }

    private init(_ inner: StreamLogHandler, level: Logger.Level) {
        self.inner = inner
        self.inner.logLevel = level
    }

    package var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    package var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty {
            event.metadata = metadata.merging(event.metadata ?? [:]) { _, explicit in explicit }
        }
        inner.log(event: event)
    }
}
