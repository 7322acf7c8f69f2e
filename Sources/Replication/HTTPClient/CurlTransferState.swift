internal import Synchronization

/// A cancellation flag shared between the calling task and the curl thread.
final class CurlCancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    /// Asks the running transfer to abort at its next progress callback.
    func cancel() {
        flag.store(true, ordering: .relaxed)
    }

    /// Whether `cancel()` was called.
    var isCancelled: Bool {
        flag.load(ordering: .relaxed)
    }
}

/// Per-transfer state the C callbacks write into; lives on the curl thread for one `curl_easy_perform`.
final class CurlTransferState {
    /// Largest body accepted before the transfer is aborted.
    let maxBodyBytes: Int
    /// Set by the calling task when it is cancelled.
    let cancellation: CurlCancellation
    /// The body received so far.
    private(set) var body: [UInt8] = []
    /// Header fields of the last response received (interim 1xx responses are dropped).
    private(set) var headers: [(String, String)] = []
    /// Whether the body callback refused data because of `maxBodyBytes`.
    private(set) var exceededBodyLimit = false

    init(maxBodyBytes: Int, cancellation: CurlCancellation) {
        self.maxBodyBytes = maxBodyBytes
        self.cancellation = cancellation
    }

    /// Body bytes from CURLOPT_WRITEFUNCTION; returns fewer bytes than given to make curl abort.
    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Int {
        guard chunk.count <= maxBodyBytes - body.count else {
            exceededBodyLimit = true
            return 0  // chunk.count > 0 here, so curl sees a short write and aborts
        }
        body.append(contentsOf: chunk)
        return chunk.count
    }

    /// One raw header line (CRLF included) from CURLOPT_HEADERFUNCTION.
    func receiveHeaderLine(_ line: UnsafeRawBufferPointer) -> Int {
        var bytes = line[...]
        while let last = bytes.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: "\n") {
            bytes = bytes.dropLast()
        }
        if bytes.starts(with: "HTTP/".utf8) {
            // A new status line: a new response (after `100 Continue` or a 1xx) starts.
            headers.removeAll(keepingCapacity: true)
        } else if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            let name = String(decoding: bytes[..<colon], as: UTF8.self)
            let value = String(decoding: Self.trimmed(bytes[(colon + 1)...]), as: UTF8.self)
            headers.append((name, value))
        }
        return line.count
    }

    /// Whether CURLOPT_XFERINFOFUNCTION should abort the transfer.
    var shouldAbort: Bool {
        cancellation.isCancelled
    }

    private static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        var result = bytes
        while let first = result.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            result = result.dropFirst()
        }
        while let last = result.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
            result = result.dropLast()
        }
        return result
    }
}
