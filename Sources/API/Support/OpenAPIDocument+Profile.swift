import Foundation
package import NodeServices

extension OpenAPIDocument {
    /// The document a node serves: outside the `birthmark` profile without the operations marked
    /// `"x-sma-profile": "birthmark"` (those routes are not served there), so that the document always lists exactly
    /// the routes of the node that serves it (and schemathesis can run against a node in either mode).
    package static func json(for profile: CompatibilityProfile) -> String {
        profile == .birthmark ? json : withoutProfileOperations
    }

    /// `json` without the `birthmark` profile's operations (computed once).
    package static let withoutProfileOperations: String = {
        guard var doc = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
              let paths = doc["paths"] as? [String: [String: Any]] else { return json }
        var kept: [String: [String: Any]] = [:]
        for (path, operations) in paths {
            let remaining = operations.filter { ($0.value as? [String: Any])?["x-sma-profile"] == nil }
            if !remaining.isEmpty { kept[path] = remaining }
        }
        doc["paths"] = kept
        guard let data = try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .withoutEscapingSlashes]) else { return json }
        return String(decoding: data, as: UTF8.self)
    }()
}
