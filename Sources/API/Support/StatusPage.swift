import Foundation
import NodeServices

/// The operator's status page served at `GET /status`: one self-contained HTML document (inline CSS,
/// inline script, SVG built by the script; no external assets) kept in `Resources/status.html`. The script
/// fetches `/v1/status` from the same node every 5 seconds and redraws.
package enum StatusPage {
    package static let html: String = (try? Asset.text("status.html")) ?? ""
}

/// The OpenAPI 3.1 document of the public API, served at `GET /openapi.json` from `Resources/openapi.json`.
/// A test checks that it lists exactly the routes the router serves.
package enum OpenAPIDocument {
    package static let json: String = (try? Asset.text("openapi.json")) ?? ""
}

/// Files shipped in the API target's resource bundle (`Resources/`, installed as `sma-cluster_API.resources`
/// next to the `sma-node` binary).
package enum Asset {
    /// Every asset the routes serve.
    static let names = ["status.html", "openapi.json"]

    /// Checks at start-up that every asset is installed, so a node with an incomplete install refuses to start
    /// with a message that names the file instead of serving an empty page.
    package static func verifyInstalled() throws {
        for name in names { _ = try text(name) }
    }

    static func text(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources"),
              let data = try? Data(contentsOf: url), !data.isEmpty else {
            throw NodeError(.notInitialized, "the API's resource bundle lacks Resources/\(name): install sma-cluster_API.resources next to sma-node")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
