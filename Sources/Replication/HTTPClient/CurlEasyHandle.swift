internal import CCurl

/// The outcome of one `curl_easy_perform`, handed back from the thread pool.
struct CurlOutcome: Sendable {
    /// The response, or why there is none.
    var result: Result<HTTPClientResponse, HTTPClientError>
    /// CURLINFO_NUM_CONNECTS: new connections this transfer had to open.
    var newConnections: Int
}

/// Owns one libcurl easy handle (and its connection cache); freed with `curl_easy_cleanup` in `deinit`.
///
/// `@unchecked Sendable`: the handle moves between threads but is used by one thread at a
/// time, because `CurlHTTPClient` checks it out of its pool for exactly one request.
final class CurlEasyHandle: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    /// CURLOPT_ERRORBUFFER, CURL_ERROR_SIZE bytes, owned for the handle's lifetime.
    private let errorBuffer: UnsafeMutablePointer<CChar>

    /// Creates an easy handle; fails if libcurl cannot be initialised.
    init() throws(HTTPClientError) {
        guard Curl.isInitialised, let handle = curl_easy_init() else {
            throw HTTPClientError(code: .other, message: "curl_easy_init failed")
        }
        self.handle = handle
        let size = Int(CURL_ERROR_SIZE)
        self.errorBuffer = .allocate(capacity: size)
        self.errorBuffer.initialize(repeating: 0, count: size)
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Runs one request to completion; blocks the calling thread (call it on a thread pool).
    func perform(_ request: CurlRequest, options: CurlTransferOptions, cancellation: CurlCancellation) -> CurlOutcome {
        let state = CurlTransferState(maxBodyBytes: options.maxResponseBytes, cancellation: cancellation)
        // Live connections, TLS session and DNS caches survive the reset; per-request options do not.
        curl_easy_reset(handle)
        errorBuffer[0] = 0
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer {
            // Detach everything that pointed at this request before freeing it.
            _ = sma_curl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, nil)
            _ = sma_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, nil)
            _ = sma_curl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, nil)
            _ = sma_curl_easy_setopt_pointer(handle, CURLOPT_XFERINFODATA, nil)
            curl_slist_free_all(headerList)
        }
        let code: CURLcode
        do {
            try configure(request, options: options, headerList: &headerList)
            try installCallbacks(state)
            code = withExtendedLifetime(state) { curl_easy_perform(handle) }
        } catch {
            return CurlOutcome(result: .failure(error), newConnections: 0)
        }
        let newConnections = getLong(CURLINFO_NUM_CONNECTS)
        guard code == CURLE_OK else {
            return CurlOutcome(result: .failure(classify(code, state: state)), newConnections: newConnections)
        }
        let response = HTTPClientResponse(status: getLong(CURLINFO_RESPONSE_CODE), headers: state.headers, body: state.body)
        return CurlOutcome(result: .success(response), newConnections: newConnections)
    }

    // MARK: Options

    private func configure(
        _ request: CurlRequest,
        options: CurlTransferOptions,
        headerList: inout UnsafeMutablePointer<curl_slist>?
    ) throws(HTTPClientError) {
        try check(sma_curl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_URL, request.url)
        try set(CURLOPT_PROTOCOLS_STR, options.tls == nil ? "http,https" : "https")
        try set(CURLOPT_REDIR_PROTOCOLS_STR, "https")
        try set(CURLOPT_FOLLOWLOCATION, 0)
        try set(CURLOPT_PROXY, "")  // never route peer traffic through an environment proxy
        try set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        try set(CURLOPT_CONNECTTIMEOUT_MS, options.connectTimeoutMilliseconds)
        try set(CURLOPT_TIMEOUT_MS, options.requestTimeoutMilliseconds)
        if let interface = options.interface {
            try set(CURLOPT_INTERFACE, interface)
        }
        try check(sma_curl_easy_setopt_off_t(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(options.maxResponseBytes)))
        try set(CURLOPT_SSL_VERIFYPEER, 1)
        try set(CURLOPT_SSL_VERIFYHOST, 2)
        if let pin = request.pinnedPublicKey {
            try set(CURLOPT_PINNEDPUBLICKEY, pin)
        }
        if let tls = options.tls {
            try set(CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2))
            // Trust exactly the given roots: the blob replaces CAINFO, and CAPATH (the system directory) is cleared.
            try setBlob(CURLOPT_CAINFO_BLOB, tls.trustRoots)
            try check(sma_curl_easy_setopt_string(handle, CURLOPT_CAPATH, nil))
            if !tls.certificateChain.isEmpty {
                try set(CURLOPT_SSLCERTTYPE, "PEM")
                try setBlob(CURLOPT_SSLCERT_BLOB, tls.certificateChain)
                try set(CURLOPT_SSLKEYTYPE, "PEM")
                try setBlob(CURLOPT_SSLKEY_BLOB, tls.privateKey)
            }
        }

        // Method and body. After the reset the method is GET.
        if request.method == "HEAD" {
            try set(CURLOPT_NOBODY, 1)
        }
        if let body = request.body {
            try check(sma_curl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            // Never hand curl a NULL pointer: it would then read the body from stdin.
            let code = (body.isEmpty ? [0] : body).withUnsafeBytes { bytes in
                sma_curl_easy_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
            }
            try check(code)
        }
        let impliedMethod = request.body == nil ? "GET" : "POST"
        if request.method != impliedMethod && request.method != "HEAD" {
            try set(CURLOPT_CUSTOMREQUEST, request.method)
        }

        // Header fields: kept alive in `headerList` until the transfer is over.
        var lines = request.headers.map { name, value in
            // "Name:" would delete a header in curl's syntax; "Name;" sends it with an empty value.
            value.isEmpty ? "\(name);" : "\(name): \(value)"
        }
        lines.append("Expect:")  // no 100-continue round trip
        if request.body != nil && !request.hasHeader("Content-Type") {
            lines.append("Content-Type:")  // not curl's default x-www-form-urlencoded
        }
        for line in lines {
            guard let appended = curl_slist_append(headerList, line) else {
                throw HTTPClientError(code: .other, message: "curl_slist_append failed")
            }
            headerList = appended
        }
        try check(sma_curl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
    }

    private func installCallbacks(_ state: CurlTransferState) throws(HTTPClientError) {
        let context = Unmanaged.passUnretained(state).toOpaque()
        try check(sma_curl_easy_setopt_write_function(handle) { data, size, count, context in
            let state = Unmanaged<CurlTransferState>.fromOpaque(context!).takeUnretainedValue()
            return state.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
        })
        try check(sma_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        try check(sma_curl_easy_setopt_header_function(handle) { data, size, count, context in
            let state = Unmanaged<CurlTransferState>.fromOpaque(context!).takeUnretainedValue()
            return state.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
        })
        try check(sma_curl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        try check(sma_curl_easy_setopt_xferinfo_function(handle) { context, _, _, _, _ in
            let state = Unmanaged<CurlTransferState>.fromOpaque(context!).takeUnretainedValue()
            return state.shouldAbort ? 1 : 0
        })
        try check(sma_curl_easy_setopt_pointer(handle, CURLOPT_XFERINFODATA, context))
        try set(CURLOPT_NOPROGRESS, 0)
    }

    private func set(_ option: CURLoption, _ value: Int) throws(HTTPClientError) {
        try check(sma_curl_easy_setopt_long(handle, option, value))
    }

    private func set(_ option: CURLoption, _ value: String) throws(HTTPClientError) {
        // curl copies string options (except the few documented otherwise, none used here).
        try check(sma_curl_easy_setopt_string(handle, option, value))
    }

    private func setBlob(_ option: CURLoption, _ bytes: [UInt8]) throws(HTTPClientError) {
        let code = bytes.withUnsafeBytes { raw in
            var blob = curl_blob(
                data: UnsafeMutableRawPointer(mutating: raw.baseAddress),
                len: raw.count,
                flags: UInt32(CURL_BLOB_COPY)
            )
            return sma_curl_easy_setopt_blob(handle, option, &blob)
        }
        try check(code)
    }

    private func check(_ code: CURLcode) throws(HTTPClientError) {
        guard code == CURLE_OK else {
            throw HTTPClientError(code: .other, curlCode: Int(code.rawValue), message: "curl_easy_setopt: \(Self.describe(code))")
        }
    }

    private func getLong(_ info: CURLINFO) -> Int {
        var value = 0
        return sma_curl_easy_getinfo_long(handle, info, &value) == CURLE_OK ? value : 0
    }

    // MARK: Errors

    /// Maps a failed transfer to an error, copying curl's error buffer at once.
    private func classify(_ code: CURLcode, state: CurlTransferState) -> HTTPClientError {
        let buffered = String(cString: errorBuffer)
        let message = buffered.isEmpty ? Self.describe(code) : buffered
        let kind: HTTPClientError.Code
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            kind = .connectFailed
        case CURLE_OPERATION_TIMEDOUT:
            kind = .timeout
        case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_PEER_FAILED_VERIFICATION,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
            CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ENGINE_INITFAILED,
            CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_USE_SSL_FAILED:
            kind = .tlsHandshakeFailed
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR:
            // TLS 1.3: the server checks our certificate after the client considers the handshake
            // done, so a refusal surfaces as a TLS alert on the first read (or write).
            let lowered = message.lowercased()
            kind = lowered.contains("alert") || lowered.contains("certificate") ? .tlsHandshakeFailed : .other
        case CURLE_FILESIZE_EXCEEDED:
            kind = .responseTooLarge
        case CURLE_WRITE_ERROR where state.exceededBodyLimit:
            kind = .responseTooLarge
        case CURLE_ABORTED_BY_CALLBACK where state.cancellation.isCancelled:
            kind = .cancelled
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            kind = .invalidRequest
        default:
            kind = .other
        }
        return HTTPClientError(code: kind, curlCode: Int(code.rawValue), message: message)
    }

    private static func describe(_ code: CURLcode) -> String {
        String(cString: curl_easy_strerror(code))
    }
}
