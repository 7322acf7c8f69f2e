import Foundation

/// What a finished command printed (stdout and stderr together) and its exit status.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var output: String
}

/// Runs `path` with `args` to completion (tests use it for `openssl`).
public func run(_ path: String, _ args: [String]) throws -> ProcessOutput {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ProcessOutput(status: p.terminationStatus, output: String(decoding: data, as: UTF8.self))
}
