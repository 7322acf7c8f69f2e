/// A camera's authentication token as aggregators forward it (docs/ARCHITECTURE.md §1).
///
/// `ciphertext` and `authTag` are the AES-256-GCM output over the device's
/// NUC hash under `derived_key(tableID, keyIndex)`.
public struct CameraToken: Sendable, Equatable, CustomStringConvertible {
    public var ciphertext: Bytes32
    public var authTag: Bytes16
    public var nonce: Bytes12
    public var tableID: Int
    public var keyIndex: Int

    public init(ciphertext: Bytes32, authTag: Bytes16, nonce: Bytes12, tableID: Int, keyIndex: Int) {
        self.ciphertext = ciphertext
        self.authTag = authTag
        self.nonce = nonce
        self.tableID = tableID
        self.keyIndex = keyIndex
    }

    /// Never prints the token's bytes.
    public var description: String { "CameraToken(table: \(tableID), key: \(keyIndex))" }
}
