import Core
import Foundation

/// A JSON array that refuses, while it is being decoded, to hold more than the route's item limit: the limit is
/// enforced element by element, not after a whole oversized list has been built.
///
/// The limit comes from the decoder's `userInfo[BoundedList.maxItemsKey]` (`APIServer.decode(_:from:maxItems:)`).
package struct BoundedList<Element: Decodable & Sendable>: Decodable, Sendable {
    package var items: [Element]

    static var maxItemsKey: CodingUserInfoKey { CodingUserInfoKey(rawValue: "sma.maxItems")! }

    package init(from decoder: any Decoder) throws {
        let limit = decoder.userInfo[Self.maxItemsKey] as? Int ?? Int.max
        var container = try decoder.unkeyedContainer()
        var items: [Element] = []
        if let count = container.count { items.reserveCapacity(min(count, limit)) }
        while !container.isAtEnd {
            guard items.count < limit else {
                let field = APIServer.path(decoder.codingPath)
                throw InputError(field: field, "at most \(limit) items per request")
            }
            items.append(try container.decode(Element.self))
        }
        self.items = items
    }
}
