package import Foundation

/// The operator's status page served at `GET /status`: one self-contained HTML document (inline CSS,
/// inline script, SVG built by the script; no external assets) kept in `Resources/status.html`. The script
/// fetches `/v1/status` from the same node every 5 seconds and redraws.
package enum StatusPage {
    package static let html: String = Asset.text("status.html")
}

/// The OpenAPI 3.1 document of the public API, served at `GET /openapi.json` from `Resources/openapi.json`.
/// A test checks that it lists exactly the routes the router serves.
package enum OpenAPIDocument {
    package static let json: String = Asset.text("openapi.json")
}

/// Files shipped in the API target's bundle (`Resources/`).
enum Asset {
    /// The file's text; a missing asset is a packaging error, reported at first use with its name.
    static func text(_ name: String) -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources"),
              let data = try? Data(contentsOf: url) else {
            fatalError("the API bundle lacks Resources/\(name): the build did not copy it")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
