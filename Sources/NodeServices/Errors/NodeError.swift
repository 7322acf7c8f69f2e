import Core
import Foundation
import SMAErrors

/// A node-level error with a stable code. `reason` never contains secrets, tokens, NUC hashes or SQL.
package struct NodeError: CodedError {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let raw: String
        package static let notInitialized = Code(raw: "not_initialized")
        package static let alreadyInitialized = Code(raw: "already_initialized")
        package static let wrongKEK = Code(raw: "wrong_kek")
        package static let notLeader = Code(raw: "not_leader")
        package static let notReady = Code(raw: "not_ready")
        package static let conflict = Code(raw: "conflict")
        package static let notFound = Code(raw: "not_found")
        package static let invalidInput = Code(raw: "invalid_input")
        package static let unavailable = Code(raw: "unavailable")
        package static let `internal` = Code(raw: "internal")
        package var description: String { raw }
    }

    package var code: Code
    package var reason: String
    /// For `invalidInput` / `conflict`: the JSON field at fault.
    package var field: String?

    package var file: String
    package var line: Int

    package init(_ code: Code, _ reason: String, field: String? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.field = field
        self.file = file
        self.line = line
    }

}
