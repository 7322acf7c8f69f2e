public import SMAErrors

/// An error of the certificate authority or key handling. Never carries key material.
public struct AuthorityError: CodedError {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        public static let keyMismatch = Code(raw: "key_mismatch")
        public static let malformedKey = Code(raw: "malformed_key")
        public static let malformedCertificate = Code(raw: "malformed_certificate")
        public static let decryptionFailed = Code(raw: "decryption_failed")
        public static let badSignature = Code(raw: "bad_signature")
        public var description: String { raw }
    }

    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }
}
