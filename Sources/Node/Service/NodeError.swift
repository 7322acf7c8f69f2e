import Logging
/// A node-level error with a stable code. `reason` never contains secrets, tokens, NUC hashes or SQL.
struct NodeError: Error, Sendable, CustomStringConvertible, Equatable {
    struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        static let notInitialized = Code(raw: "not_initialized")
        static let alreadyInitialized = Code(raw: "already_initialized")
        static let wrongKEK = Code(raw: "wrong_kek")
        static let notLeader = Code(raw: "not_leader")
        static let notReady = Code(raw: "not_ready")
        static let conflict = Code(raw: "conflict")
        static let notFound = Code(raw: "not_found")
        static let invalidInput = Code(raw: "invalid_input")
        static let unavailable = Code(raw: "unavailable")
        static let `internal` = Code(raw: "internal")
        var description: String { raw }
    }

    var code: Code
    var reason: String
    /// For `invalidInput` / `conflict`: the JSON field at fault.
    var field: String?

    init(_ code: Code, _ reason: String, field: String? = nil) {
        self.code = code
        self.reason = reason
        self.field = field
    }

    static func == (a: Self, b: Self) -> Bool { a.code == b.code }
    var description: String { "\(code): \(reason)" }
}
