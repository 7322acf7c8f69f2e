/// A request checked for header injection and scheme, ready for a curl easy handle.
struct CurlRequest: Sendable {
    /// The HTTP method token, for example `POST`.
    var method: String
    /// The absolute http(s) URL.
    var url: String
    /// Header fields to send, already validated.
    var headers: [(String, String)]
    /// The body to send, if any.
    var body: [UInt8]?
    /// CURLOPT_PINNEDPUBLICKEY: the only server key accepted (`sha256//<base64>`), or nil.
    var pinnedPublicKey: String?

    /// Validates the parts of a request; `httpsOnly` refuses any scheme but https.
    init(method: String, url: String, headers: [(String, String)], body: [UInt8]?, httpsOnly: Bool) throws(HTTPClientError) {
        guard !method.isEmpty, method.utf8.allSatisfy(Self.isTokenByte) else {
            throw HTTPClientError(code: .invalidRequest, message: "invalid HTTP method")
        }
        guard !url.isEmpty, url.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw HTTPClientError(code: .invalidRequest, message: "invalid URL (control characters or spaces)")
        }
        let lowercasedURL = url.lowercased()
        if httpsOnly {
            guard lowercasedURL.hasPrefix("https://") else {
                throw HTTPClientError(code: .invalidRequest, message: "client has TLS material: only https:// URLs are allowed")
            }
        } else {
            guard lowercasedURL.hasPrefix("https://") || lowercasedURL.hasPrefix("http://") else {
                throw HTTPClientError(code: .invalidRequest, message: "only http:// and https:// URLs are allowed")
            }
        }
        for (index, (name, value)) in headers.enumerated() {
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else {
                throw HTTPClientError(code: .invalidRequest, message: "invalid name in header field #\(index)")
            }
            // The value itself must never reach an error message.
            guard value.utf8.allSatisfy({ $0 != 0x0D && $0 != 0x0A && $0 != 0x00 }) else {
                throw HTTPClientError(code: .invalidRequest, message: "invalid value in header field '\(name)' (CR, LF or NUL)")
            }
        }
        self.method = method
        self.url = url
        self.headers = headers
        // POST without a body still sends `Content-Length: 0`.
        self.body = body ?? (method == "POST" ? [] : nil)
    }

    /// Whether the header list already names `name` (ASCII case-insensitive).
    func hasHeader(_ name: String) -> Bool {
        let wanted = name.lowercased()
        return headers.contains { $0.0.lowercased() == wanted }
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
