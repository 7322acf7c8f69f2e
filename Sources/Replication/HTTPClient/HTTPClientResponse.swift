/// A complete HTTP response: status, headers in arrival order and the whole body.
public struct HTTPClientResponse: Sendable {
    /// The HTTP status code (for example 200).
    public var status: Int
    /// Response header fields in the order received; names as sent by the server.
    public var headers: [(String, String)]
    /// The response body (empty for HEAD and bodiless responses).
    public var body: [UInt8]

    /// Creates a response value.
    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The value of the first header field named `name` (ASCII case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0.lowercased() == wanted }?.1
    }
}
