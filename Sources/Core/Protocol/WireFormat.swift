public import SMAErrors
/// A client mistake in a request body: names the field, never echoes its value.
///
/// Its code is the field's JSON path (what a client and a test match on); the reason says what is wrong with it.
public struct InputError: CodedError {
    /// JSON path of the offending field, e.g. `camera_token.nonce`.
    public var field: String
    public var problem: String
    public var file: String
    public var line: Int
    public init(field: String, _ problem: String, file: String = #fileID, line: Int = #line) {
        self.field = field
        self.problem = problem
        self.file = file
        self.line = line
    }
    /// The field at fault: errors naming the same field are equal.
    public var code: String { field }
    public var reason: String { problem }
}

/// `POST /validate` body, exactly as aggregators send it (docs/ARCHITECTURE.md §1).
public struct ValidationRequest: Codable, Sendable {
    public struct Token: Codable, Sendable {
        public var ciphertext: String
        public var auth_tag: String
        public var nonce: String
        public var table_id: Int
        public var key_index: Int
        public init(ciphertext: String, auth_tag: String, nonce: String, table_id: Int, key_index: Int) {
            self.ciphertext = ciphertext
            self.auth_tag = auth_tag
            self.nonce = nonce
            self.table_id = table_id
            self.key_index = key_index
        }
    }
    public var camera_token: Token
    public var manufacturer_authority_id: String?

    public init(camera_token: Token, manufacturer_authority_id: String? = nil) {
        self.camera_token = camera_token
        self.manufacturer_authority_id = manufacturer_authority_id
    }
}

extension ValidationRequest.Token {
    /// Checks every field's shape; `prefix` is the JSON path of this object.
    public func cameraToken(tableCount: Int, prefix: String = "camera_token") throws(InputError) -> CameraToken {
        guard let ct = Bytes32(hex: ciphertext) else {
            throw InputError(field: "\(prefix).ciphertext", "must be 64 hex digits (32 bytes)")
        }
        guard let tag = Bytes16(hex: auth_tag) else {
            throw InputError(field: "\(prefix).auth_tag", "must be 32 hex digits (16 bytes)")
        }
        guard let n = Bytes12(hex: nonce) else {
            throw InputError(field: "\(prefix).nonce", "must be 24 hex digits (12 bytes)")
        }
        guard table_id >= 0, table_id < tableCount else {
            throw InputError(field: "\(prefix).table_id", "must be an integer from 0 to \(tableCount - 1)")
        }
        guard key_index >= 0, key_index < BirthmarkProtocol.keysPerTable else {
            throw InputError(field: "\(prefix).key_index", "must be an integer from 0 to \(BirthmarkProtocol.keysPerTable - 1)")
        }
        return CameraToken(ciphertext: ct, authTag: tag, nonce: n, tableID: table_id, keyIndex: key_index)
    }
}

/// The `{valid, message}` answer.
public struct ValidationResponse: Codable, Sendable, Equatable {
    public var valid: Bool
    public var message: String
    public init(_ outcome: ValidationOutcome) {
        valid = outcome.isValid
        message = outcome.message
    }
    public init(valid: Bool, message: String) {
        self.valid = valid
        self.message = message
    }
}
