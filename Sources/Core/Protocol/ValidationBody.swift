/// A `POST /validate` body: the structured request, or the legacy one (docs/ARCHITECTURE.md §1.3).
///
/// A body without `camera_token` that has any of the legacy fields is legacy; everything else is decoded as the
/// structured request (so a body with neither still gets `camera_token: is required`).
public enum ValidationBody: Decodable, Sendable {
    case structured(ValidationRequest)
    case legacy(LegacyValidationRequest)

    private enum Keys: String, CodingKey { case camera_token, ciphertext, table_references, key_indices }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        if !c.contains(.camera_token), c.contains(.ciphertext) || c.contains(.table_references) || c.contains(.key_indices) {
            self = .legacy(try LegacyValidationRequest(from: decoder))
        } else {
            self = .structured(try ValidationRequest(from: decoder))
        }
    }
}
