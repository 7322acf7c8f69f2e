public import Logging
import Synchronization

/// Records log messages so a test can look at them.
public final class LogCapture: Sendable {
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    public var recorded: [Entry] { entries.withLock { $0 } }

    public func record(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    /// A logger at `.trace` that records into this capture.
    public func logger() -> Logger {
        var logger = Logger(label: "capture") { _ in CapturingLogHandler(capture: self) }
        logger.logLevel = .trace
        return logger
    }
}

public struct CapturingLogHandler: LogHandler {
    public let capture: LogCapture
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { all[key] = "\(value)" }
        capture.record(.init(level: event.level, message: "\(event.message)", metadata: all))
    }
}
