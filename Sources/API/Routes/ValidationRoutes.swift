package import Core
import NodeServices
import Replication
package import Hummingbird
import Foundation
package import Logging
import NIOCore
import Prometheus

extension APIServer {
    /// `POST /validate`, `POST /validate-legacy` and `POST /v1/validate/batch` (validators, or anyone when
    /// `anonymous_validation` is on or in the `birthmark` profile), `POST /validate-cert` (validators, or anyone in the
    /// `birthmark` profile). Keyless callers are rate-limited per client address.
    func validationRoutes() -> RouteCollection<SMARequestContext> {
        let routes = RouteCollection(context: SMARequestContext.self)
        routes.group().add(middleware: authenticate(.validator, anonymous: .tokenValidation))
            .post("/validate", use: validate)
            .post("/validate-legacy", use: validateLegacy)
            .post("/v1/validate/batch", use: validateBatch)
        routes.group().add(middleware: authenticate(.validator, anonymous: .certificateValidation))
            .post("/validate-cert", use: validateCertificate)
        return routes
    }

    /// `POST /validate`: the aggregators' call (docs/ARCHITECTURE.md §1.3), structured or legacy body.
    @Sendable package func validate(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await awaitMinSeq(request)
        let bytes = try await request.collectBody(upTo: config.maxBodyBytes, context: context)
        // The plain shape aggregators send is read without JSONDecoder (~10 % of the node's CPU under wrk); anything
        // else, errors included, goes through JSONDecoder exactly as before.
        let decoded = bytes.withUnsafeReadableBytes { ValidationRequest(fastJSON: $0) }.map(ValidationBody.structured)
        switch try decoded ?? Self.decode(ValidationBody.self, from: bytes) {
        case .structured(let body):
            let token = try body.camera_token.cameraToken(tableCount: tableLimit)
            return answer(context.logger) { state.registry.validate(token, caller: context.callerKeyID) }
        case .legacy(let body):
            let token = try body.legacyToken(tableCount: tableLimit)
            return answer(context.logger) { state.registry.validate(token, caller: context.callerKeyID) }
        }
    }

    /// `POST /validate-legacy`: the legacy body only (docs/ARCHITECTURE.md §1.3); the same decision as on `/validate`.
    @Sendable package func validateLegacy(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await awaitMinSeq(request)
        let token = try await body(request, LegacyValidationRequest.self, limit: config.maxBodyBytes, context: context)
            .legacyToken(tableCount: tableLimit)
        return answer(context.logger) { state.registry.validate(token, caller: context.callerKeyID) }
    }

    /// Times and records one validation decision and answers it.
    private func answer(_ logger: Logger, _ decide: () -> ValidationOutcome) -> Response {
        let start = ContinuousClock.now
        let outcome = staleness(start, logger: logger).apply(to: decide())
        metrics.validationLatency.record(start.duration(to: .now))
        metrics.record(outcome)
        return Self.validationAnswer(outcome)
    }

    /// What `staleness_mode` does to this request's answers (docs/ARCHITECTURE.md §2.9, "Staleness"): the node's
    /// knowledge age is recorded (`sma_validation_knowledge_age_seconds`); past `max_staleness_seconds`, `warn` logs (at
    /// most once a minute) and counts, and `fail` turns a PASS into FAIL `stale`.
    package func staleness(_ now: ContinuousClock.Instant, logger: Logger) -> StalenessJudgement {
        let age = state.leaderContact.age(at: now)
        metrics.validationKnowledgeAge.record(age)
        guard let limit = config.stalenessLimit, age > limit else { return StalenessJudgement(failPass: false) }
        switch config.stalenessMode {
        case .off:
            return StalenessJudgement(failPass: false)
        case .warn:
            metrics.staleValidationsWarn.increment()
            if state.leaderContact.mayLogWarning(now: now) {
                logger.warning("answering validations from stale knowledge (staleness_mode warn)", metadata: [
                    "staleness.age_seconds": "\(Self.seconds(age))", "staleness.max_seconds": "\(config.maxStalenessSeconds ?? 0)"])
            }
            return StalenessJudgement(failPass: false)
        case .fail:
            return StalenessJudgement(failPass: true, metrics: metrics)
        }
    }

    package static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// The few possible `/validate` answers, encoded once.
    package static let encodedAnswers: [ValidationOutcome: ByteBuffer] = {
        var answers: [ValidationOutcome: ByteBuffer] = [:]
        for outcome in [ValidationOutcome.pass] + FailureReason.allCases.map(ValidationOutcome.fail) {
            answers[outcome] = ByteBuffer(bytes: try! APIServer.encoder.encode(ValidationResponse(outcome)))
        }
        return answers
    }()

    package static func validationAnswer(_ outcome: ValidationOutcome) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: encodedAnswers[outcome]!))
    }

    /// Table ids accepted on the wire: the installed tables (or the protocol default before keys load).
    package var tableLimit: Int {
        let n = state.registry.keyTableCount
        return n > 0 ? n : BirthmarkProtocol.defaultTableCount
    }

    package struct BatchRequest: Decodable { var tokens: BoundedList<ValidationRequest.Token> }
    package struct BatchResponse: Encodable { var results: [ValidationResponse] }

    /// `POST /v1/validate/batch`: many tokens, one answer each, in order.
    @Sendable package func validateBatch(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await awaitMinSeq(request)
        let submitted = try await largeBodies.admit {
            try Self.decode(BatchRequest.self, from: try await request.collectBody(upTo: config.maxBulkBodyBytes, context: context),
                            maxItems: config.maxBatchItems).tokens.items
        }
        let limit = tableLimit
        var tokens: [CameraToken] = []
        tokens.reserveCapacity(submitted.count)
        for (i, t) in submitted.enumerated() { tokens.append(try t.cameraToken(tableCount: limit, prefix: "tokens[\(i)]")) }
        let stale = staleness(.now, logger: context.logger)
        let outcomes = state.registry.validate(tokens, caller: context.callerKeyID).map(stale.apply)
        metrics.record(outcomes)
        return try json(BatchResponse(results: outcomes.map(ValidationResponse.init)))
    }

    package struct CertificateRequest: Decodable {
        package var camera_cert: String
        package var image_hash: String
        package var timestamp: Int64
        package var gps_hash: String?
        package var bundle_signature: String
    }

    /// `POST /validate-cert`: a camera certificate plus a signature over the image hash.
    @Sendable package func validateCertificate(_ request: Request, context: SMARequestContext) async throws -> Response {
        try await awaitMinSeq(request)
        let body = try await body(request, CertificateRequest.self, limit: config.maxBodyBytes, context: context)
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
            throw InputError(field: "camera_cert", "must be base64 of a PEM or DER X.509 certificate")
        }
        let stale = staleness(.now, logger: context.logger)
        var outcome: ValidationOutcome
        if let ca = state.authorityCertificates {
            switch bundle.verify(intermediate: ca.intermediate, now: Date(),
                                acceptLegacySignatureText: config.effectiveAcceptLegacySignatureText) {
            case .failure(let reason): outcome = .fail(reason)
            case .success(let cn):
                // The CN is the serial exactly as this authority issued it: looked up by its bytes.
                let serial = DeviceSerial(unchecked: cn)
                if let device = state.registry.device(serial: serial) {
                    outcome = device.revoked ? .fail(.revoked) : .pass
                    state.registry.countValidation(serial: serial, imageTag: ValidationCounters.tag(Hex.decode(body.image_hash) ?? []),
                                                   caller: context.callerKeyID)
                } else {
                    outcome = .fail(.unknownDevice)
                }
            }
        } else {
            outcome = .fail(.certificateUntrusted)
        }
        outcome = stale.apply(to: outcome)
        metrics.record(outcome)
        let message = outcome == .pass ? "Certificate bundle is valid: device is provisioned and not revoked" : outcome.message
        return try json(ValidationResponse(valid: outcome.isValid, message: message))
    }
}

/// What staleness does to one request's validation answers.
package struct StalenessJudgement: Sendable {
    /// A PASS becomes FAIL `stale` (`staleness_mode` `fail`, knowledge too old).
    var failPass: Bool
    var metrics: NodeMetrics? = nil

    func apply(to outcome: ValidationOutcome) -> ValidationOutcome {
        guard failPass, outcome == .pass else { return outcome }
        metrics?.staleValidationsFail.increment()
        return .fail(.stale)
    }
}
