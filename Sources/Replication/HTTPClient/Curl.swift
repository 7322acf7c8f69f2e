internal import CCurl

/// Process-wide libcurl set-up.
public enum Curl {
    /// Calls `curl_global_init(CURL_GLOBAL_ALL)` exactly once per process; safe to call from any thread, any number of times.
    ///
    /// `CurlHTTPClient.init` calls it; executables should also call it early in `main`, as libcurl
    /// recommends initialising before other threads start.
    public static func globalInit() {
        _ = initialisation
    }

    /// Result of the one `curl_global_init` call (Swift initialises a global `static let` exactly once, thread-safely).
    private static let initialisation: UInt32 = sma_curl_global_init_all().rawValue

    /// Whether the one `curl_global_init` call succeeded.
    static var isInitialised: Bool {
        globalInit()
        return initialisation == CURLE_OK.rawValue
    }
}
