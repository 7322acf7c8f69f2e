import Core
import SMAErrors
import SMAPostgres
import Testing
@testable import NodeServices
@testable import Replication
@testable import Storage

/// Every error type follows one style (`CodedError`): equal on the code alone, the throw site recorded,
/// a description made of the code and the reason only.
@Suite struct ErrorStyleTests {
    /// Two values of each type with the same code but different reasons and lines, and one with another code.
    static func check<E: CodedError>(_ a: E, _ sameCode: E, _ otherCode: E, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a == sameCode, sourceLocation: sourceLocation)
        #expect(a != otherCode, sourceLocation: sourceLocation)
        #expect(a.line != sameCode.line, "each value records its own throw site", sourceLocation: sourceLocation)
        #expect(a.file.hasSuffix("ErrorStyleTests.swift"), sourceLocation: sourceLocation)
        #expect(a.location == "\(a.file):\(a.line)", sourceLocation: sourceLocation)
        #expect(a.description.contains(a.reason), sourceLocation: sourceLocation)
    }

    @Test func everyErrorTypeIsEqualOnItsCodeAndRecordsWhereItWasThrown() {
        Self.check(NodeError(.notFound, "no device with this serial"),
                   NodeError(.notFound, "no key table with this id"),
                   NodeError(.conflict, "no device with this serial"))
        Self.check(LogError(.badSignature, seq: 4, "signature does not verify"),
                   LogError(.badSignature, seq: 5, "entry does not chain"),
                   LogError(.gap, seq: 4, "signature does not verify"))
        Self.check(AuthorityError(.malformedKey, "not a P-256 key"),
                   AuthorityError(.malformedKey, "not PEM"),
                   AuthorityError(.badSignature, "not a P-256 key"))
        Self.check(InputError(field: "camera_token.nonce", "must be 24 hex digits"),
                   InputError(field: "camera_token.nonce", "is required"),
                   InputError(field: "camera_token.table_id", "must be 24 hex digits"))
        Self.check(ConfigurationError(key: "kek_file", problem: "cannot read it"),
                   ConfigurationError(key: "kek_file", problem: "is not 32 bytes"),
                   ConfigurationError(key: "database_url", problem: "cannot read it"))
        Self.check(DeviceIndex.InsertConflict(.duplicateSerial),
                   DeviceIndex.InsertConflict(.duplicateSerial),
                   DeviceIndex.InsertConflict(.duplicateNUCHash))
        Self.check(PostgresError(code: .queryFailed, message: "relation missing"),
                   PostgresError(code: .queryFailed, message: "deadlock"),
                   PostgresError(code: .timeout, message: "relation missing"))
        Self.check(HTTPClientError(code: .timeout, message: "operation timed out"),
                   HTTPClientError(code: .timeout, message: "connect timed out"),
                   HTTPClientError(code: .connectFailed, message: "operation timed out"))
        Self.check(PeerClient.PeerError(.unexpectedStatus, "pull: HTTP 503"),
                   PeerClient.PeerError(.unexpectedStatus, "push: HTTP 500"),
                   PeerClient.PeerError(.malformedAnswer, "pull: HTTP 503"))
        // One code only: any two audit failures are equal; the reason names the database error's code, not the SQL.
        let audit = Store.AuditFailure(underlying: PostgresError(code: .queryFailed, message: "disk full"))
        #expect(audit == Store.AuditFailure(underlying: PostgresError(code: .timeout, message: "x")))
        #expect(audit.description.hasPrefix("audit_failed: "))
        #expect(audit.file.hasSuffix("ErrorStyleTests.swift"))
    }

    /// Data quoted by the server (a value a client sent) never reaches a description.
    @Test func postgresDescriptionRedactsQuotedInput() {
        let e = PostgresError(code: .queryFailed, message: #"invalid input syntax for type bigint: "CAM-secret-7""#, sqlState: "22P02")
        #expect(!e.description.contains("CAM-secret-7"))
        #expect(e.description.contains("22P02"))
    }
}
