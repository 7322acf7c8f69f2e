/// The one error style of the project, after swift-certificates' `X509.Error` and postgres-nio's `PSQLError`.
///
/// An error carries a stable `code` (what callers match on), a `reason` written for the reader, and the source
/// location that threw it. Two errors are equal when their codes are equal. `description` is `code: reason` and,
/// like `reason`, never contains secrets, tokens, NUC hashes, keys, request data or SQL: it is safe to log.
public protocol CodedError: Error, Sendable, Equatable, CustomStringConvertible {
    associatedtype Code: Hashable, Sendable, CustomStringConvertible
    /// What went wrong, stable for matching (`error.code == .notFound`).
    var code: Code { get }
    /// What went wrong, for the reader; never a secret or request data.
    var reason: String { get }
    /// The file that threw (`#fileID`).
    var file: String { get }
    /// The line that threw.
    var line: Int { get }
}

extension CodedError {
    /// Equal when the codes are equal.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }

    /// `code: reason`.
    public var description: String { "\(code): \(reason)" }

    /// Where the error was thrown, e.g. `Storage/Store.swift:42`, for log metadata.
    public var location: String { "\(file):\(line)" }
}
