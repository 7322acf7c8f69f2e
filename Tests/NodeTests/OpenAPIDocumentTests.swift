import Foundation
import Hummingbird
import Testing
@testable import API
@testable import Node
@testable import NodeServices
@testable import Replication
@testable import Storage

@Suite struct OpenAPIDocumentTests {
    /// `{serial}` / `:serial` / `*` spelled the same way on both sides.
    static func normalize(_ path: String) -> String {
        path.split(separator: "/").map { c -> String in
            (c.hasPrefix("{") || c.hasPrefix(":")) ? "{}" : String(c)
        }.joined(separator: "/")
    }

    /// Every documented operation as `METHOD /path`, and those marked `x-sma-profile: birthmark` (served only in that profile).
    static func documented() throws -> (all: Set<String>, birthmark: Set<String>) {
        let doc = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as! [String: Any]
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = doc["paths"] as! [String: [String: Any]]
        var all: Set<String> = [], birthmark: Set<String> = []
        for (path, ops) in paths {
            for (method, op) in ops {
                let name = "\(method.uppercased()) \(Self.normalize(path))"
                all.insert(name)
                if (op as? [String: Any])?["x-sma-profile"] as? String == "birthmark" { birthmark.insert(name) }
            }
        }
        return (all, birthmark)
    }

    static func served(_ node: TestNode) -> Set<String> {
        Set(node.runtime.api.router().routes.map { "\($0.method.rawValue.uppercased()) \(Self.normalize("\($0.path)"))" })
    }

    @Test func documentListsExactlyTheRoutesTheRouterServes() async throws {
        try await TestNode.with(tables: 10) { node in
            let served = Self.served(node)
            let (all, birthmark) = try Self.documented()
            let documented = all.subtracting(birthmark)
            #expect(served.count == 30)
            // The node serves the document without the profile's operations.
            let servedDoc = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json(for: .none).utf8)) as! [String: Any]
            let servedPaths = servedDoc["paths"] as! [String: [String: Any]]
            #expect(Set(servedPaths.flatMap { p in p.value.keys.map { "\($0.uppercased()) \(Self.normalize(p.key))" } }) == documented)
            #expect(served == documented, "served but undocumented: \(served.subtracting(documented)); documented but not served: \(documented.subtracting(served))")
        }
    }

    @Test func documentListsExactlyTheRoutesTheBirthmarkProfileServes() async throws {
        try await TestNode.with(tables: 10, configure: { $0.compatibility = .birthmark }) { node in
            let served = Self.served(node)
            let (all, birthmark) = try Self.documented()
            #expect(birthmark.count == 9)
            #expect(served.count == 30 + 9)
            #expect(served == all, "served but undocumented: \(served.subtracting(all)); documented but not served: \(all.subtracting(served))")
        }
    }

    @Test func everyReferenceResolves() throws {
        let text = OpenAPIDocument.json
        let doc = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        let components = doc["components"] as! [String: [String: Any]]
        let refs = text.matches(of: /"\$ref": "#\/components\/(\w+)\/(\w+)"/).map { (String($0.1), String($0.2)) }
        #expect(!refs.isEmpty)
        for (kind, name) in refs { #expect(components[kind]?[name] != nil, "unresolved \(kind)/\(name)") }
    }
}
