public import SMAErrors

/// Why an HTTP request failed; `description` never contains request bodies or header values.
///
/// Two errors are equal when their codes are equal.
public struct HTTPClientError: CodedError, Hashable {
    /// The kind of failure, stable for matching (`error.code == .timeout`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case connectFailed
            case tlsHandshakeFailed
            case timeout
            case responseTooLarge
            case cancelled
            case invalidRequest
            case other
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// No TCP connection could be made (refused, unreachable, name not resolved).
        public static let connectFailed = Code(.connectFailed)
        /// TLS failed: peer refused our certificate (or we sent none), unknown CA, server certificate or host verification failed, bad local TLS material.
        public static let tlsHandshakeFailed = Code(.tlsHandshakeFailed)
        /// The connect timeout or the whole-request timeout expired.
        public static let timeout = Code(.timeout)
        /// The response body exceeded the client's `maxResponseBytes`.
        public static let responseTooLarge = Code(.responseTooLarge)
        /// The calling task was cancelled, or the client or its thread pool was shut down.
        public static let cancelled = Code(.cancelled)
        /// The request was rejected before sending (bad method, header, URL, or a scheme the client may not use).
        public static let invalidRequest = Code(.invalidRequest)
        /// Any other transport failure (connection reset, malformed response, ...).
        public static let other = Code(.other)

        /// The code's name, for example `timeout`.
        public var description: String { backing.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// The libcurl `CURLcode` (0 when the failure did not come from libcurl).
    public var curlCode: Int
    /// libcurl's error-buffer text (or `curl_easy_strerror`), copied when the transfer ended; never request data.
    public var message: String
    public var file: String
    public var line: Int

    /// Creates an error value.
    public init(code: Code, curlCode: Int = 0, message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.curlCode = curlCode
        self.message = message
        self.file = file
        self.line = line
    }

    /// curl's message.
    public var reason: String { message }

    /// A one-line summary: code, curl code and curl's message.
    public var description: String {
        "HTTPClientError.\(code) (curl \(curlCode)): \(message)"
    }

    /// Hashes the code only, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
    }
}
