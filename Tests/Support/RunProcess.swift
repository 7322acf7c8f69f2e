import Foundation

/// What a finished command printed (stdout and stderr together) and its exit status.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var output: String
}

/// Runs `path` with `args` to completion (tests use it for `openssl` and small Python clients).
///
/// The output goes to a temporary file, not a pipe: with suites running in parallel other children exit meanwhile,
/// and Foundation's blocking pipe read traps on the EINTR their SIGCHLD causes.
public func run(_ path: String, _ args: [String]) throws -> ProcessOutput {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("sma-run-\(UInt64.random(in: 0 ... .max)).out")
    guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
        throw CocoaError(.fileWriteUnknown)
    }
    defer { try? FileManager.default.removeItem(at: file) }
    let handle = try FileHandle(forWritingTo: file)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.standardOutput = handle
    p.standardError = handle
    p.standardInput = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    try? handle.close()
    let data = (try? Data(contentsOf: file)) ?? Data()
    return ProcessOutput(status: p.terminationStatus, output: String(decoding: data, as: UTF8.self))
}
