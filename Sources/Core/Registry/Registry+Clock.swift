#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Registry {
    /// Milliseconds since 1970 from the system clock (the clock key-table retirements are compared with).
    public static let systemMillis: @Sendable () -> Int64 = {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
