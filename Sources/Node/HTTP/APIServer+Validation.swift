import Core
import Foundation
import Hummingbird
import NIOCore
import Logging
import Prometheus

extension APIServer {
    /// `POST /validate`: the aggregators' call (DESIGN §1).
    @Sendable func validate(_ request: Request, context: SMARequestContext) async throws -> Response {
        _ = try authorize(request, context, .validator, anonymousOK: true)
        try await awaitMinSeq(request)
        let body = try await body(request, ValidationRequest.self, limit: config.maxBodyBytes)
        let token = try body.camera_token.cameraToken(tableCount: tableLimit)
        let start = ContinuousClock.now
        let outcome = state.registry.validate(token)
        metrics.validationLatency.record(start.duration(to: .now))
        metrics.record(outcome)
        return Self.validationAnswer(outcome)
    }

    /// The few possible `/validate` answers, encoded once.
    static let encodedAnswers: [ValidationOutcome: ByteBuffer] = {
        var answers: [ValidationOutcome: ByteBuffer] = [:]
        for outcome in [ValidationOutcome.pass] + FailureReason.allCases.map(ValidationOutcome.fail) {
            answers[outcome] = ByteBuffer(bytes: try! APIServer.encoder.encode(ValidationResponse(outcome)))
        }
        return answers
    }()

    static func validationAnswer(_ outcome: ValidationOutcome) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: encodedAnswers[outcome]!))
    }

    /// Table ids accepted on the wire: the installed tables (or the protocol default before keys load).
    var tableLimit: Int {
        let n = state.registry.keyTableCount
        return n > 0 ? n : BirthmarkProtocol.defaultTableCount
    }

    struct BatchRequest: Decodable { var tokens: [ValidationRequest.Token] }
    struct BatchResponse: Encodable { var results: [ValidationResponse] }

    /// `POST /v1/validate/batch`: many tokens, one answer each, in order.
    @Sendable func validateBatch(_ request: Request, context: SMARequestContext) async throws -> Response {
        _ = try authorize(request, context, .validator, anonymousOK: true)
        try await awaitMinSeq(request)
        let body = try await body(request, BatchRequest.self, limit: config.maxBulkBodyBytes)
        guard body.tokens.count <= config.maxBatchItems else {
            throw InputError(field: "tokens", "at most \(config.maxBatchItems) tokens per batch")
        }
        let limit = tableLimit
        var tokens: [CameraToken] = []
        tokens.reserveCapacity(body.tokens.count)
        for (i, t) in body.tokens.enumerated() { tokens.append(try t.cameraToken(tableCount: limit, prefix: "tokens[\(i)]")) }
        let outcomes = state.registry.validate(tokens)
        metrics.record(outcomes)
        return try json(BatchResponse(results: outcomes.map(ValidationResponse.init)))
    }

    struct CertificateRequest: Decodable {
        var camera_cert: String
        var image_hash: String
        var timestamp: Int64
        var gps_hash: String?
        var bundle_signature: String
    }

    /// `POST /validate-cert`: a camera certificate plus a signature over the image hash.
    @Sendable func validateCertificate(_ request: Request, context: SMARequestContext) async throws -> Response {
        _ = try authorize(request, context, .validator)
        try await awaitMinSeq(request)
        let body = try await body(request, CertificateRequest.self, limit: config.maxBodyBytes)
        guard body.image_hash.utf8.count == 64, Hex.decode(body.image_hash) != nil else {
            throw InputError(field: "image_hash", "must be 64 hex digits")
        }
        if let g = body.gps_hash, g.utf8.count != 64 || Hex.decode(g) == nil {
            throw InputError(field: "gps_hash", "must be 64 hex digits")
        }
        guard let signature = Data(base64Encoded: body.bundle_signature) else {
            throw InputError(field: "bundle_signature", "must be base64 (DER ECDSA signature)")
        }
        let bundle = CertificateBundle(cameraCertificate: body.camera_cert, imageHash: body.image_hash, timestamp: body.timestamp,
                                       gpsHash: body.gps_hash, signature: Array(signature))
        guard bundle.parsedCertificate() != nil else {
            throw InputError(field: "camera_cert", "must be base64 of a PEM X.509 certificate")
        }
        let outcome: ValidationOutcome
        if let ca = state.authorityCertificates {
            switch bundle.verify(intermediate: ca.intermediate, now: Date()) {
            case .failure(let reason): outcome = .fail(reason)
            case .success(let serial):
                if let device = state.registry.device(serial: serial) {
                    outcome = device.revoked ? .fail(.revoked) : .pass
                    state.registry.countValidation(serial: serial)
                } else {
                    outcome = .fail(.unknownDevice)
                }
            }
        } else {
            outcome = .fail(.certificateUntrusted)
        }
        metrics.record(outcome)
        let message = outcome == .pass ? "Certificate bundle is valid: device is provisioned and not revoked" : outcome.message
        return try json(ValidationResponse(valid: outcome.isValid, message: message))
    }
}
