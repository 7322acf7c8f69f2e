#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import Crypto
import SwiftASN1
public import X509

/// A `/validate-cert` request: a camera certificate plus a signature over the image hash (docs/ARCHITECTURE.md §1).
public struct CertificateBundle: Sendable {
    /// base64 of PEM (canonical) or of DER (camera-pi), exactly as sent; it is part of the signed message.
    public var cameraCertificate: String
    public var imageHash: String
    public var timestamp: Int64
    public var gpsHash: String?
    /// DER ECDSA-SHA256 signature.
    public var signature: [UInt8]

    public init(cameraCertificate: String, imageHash: String, timestamp: Int64, gpsHash: String?, signature: [UInt8]) {
        self.cameraCertificate = cameraCertificate
        self.imageHash = imageHash
        self.timestamp = timestamp
        self.gpsHash = gpsHash
        self.signature = signature
    }

    /// The signed bytes: `image_hash.lower() \n camera_cert \n timestamp \n (gps_hash.lower() or "") \n`.
    public var signedMessage: [UInt8] {
        Array("\(imageHash.lowercased())\n\(cameraCertificate)\n\(timestamp)\n\(gpsHash?.lowercased() ?? "")\n".utf8)
    }

    /// The text camera-pi signs instead (`image_hash + str(timestamp)`, docs/ARCHITECTURE.md §1.6): accepted only
    /// when the node sets `accept_legacy_signature_text`. It binds neither the certificate nor `gps_hash`.
    public var legacySignedMessage: [UInt8] {
        Array("\(imageHash)\(timestamp)".utf8)
    }

    /// Parses the certificate: base64 of PEM (text starting `-----BEGIN`) or base64 of DER; nil when it is neither.
    public func parsedCertificate() -> Certificate? {
        guard let decoded = Data(base64Encoded: cameraCertificate, options: [.ignoreUnknownCharacters]) else { return nil }
        if decoded.starts(with: Self.pemPrefix) {
            guard let pem = String(data: decoded, encoding: .utf8) else { return nil }
            return try? Certificate(pemEncoded: pem)
        }
        return try? Certificate(derEncoded: Array(decoded))
    }

    private static let pemPrefix = Array("-----BEGIN".utf8)

    /// Checks chain, validity and signature; the caller then checks the device (by `serial`) in the registry.
    /// - Returns: the certificate's serial (subject CN) or the failure.
    public func verify(against authority: CertificateAuthority, now: Date, acceptLegacySignatureText: Bool = false) -> Result<String, FailureReason> {
        verify(intermediate: authority.intermediate, now: now, acceptLegacySignatureText: acceptLegacySignatureText)
    }

    /// The same check against the intermediate CA certificate alone.
    /// - Parameter acceptLegacySignatureText: also accept a signature over `legacySignedMessage` (tried only when the
    ///   canonical text does not verify).
    public func verify(intermediate: Certificate, now: Date, acceptLegacySignatureText: Bool = false) -> Result<String, FailureReason> {
        guard let cert = parsedCertificate() else { return .failure(.certificateUntrusted) }
        if let failure = CertificateAuthority.verifyDeviceCertificate(cert, intermediate: intermediate, now: now) { return .failure(failure) }
        guard let key = P256.Signing.PublicKey(cert.publicKey),
              let sig = try? P256.Signing.ECDSASignature(derRepresentation: signature),
              key.isValidSignature(sig, for: signedMessage)
                || (acceptLegacySignatureText && key.isValidSignature(sig, for: legacySignedMessage)) else {
            return .failure(.signatureInvalid)
        }
        guard let cn = cert.subject.commonName else { return .failure(.certificateUntrusted) }
        return .success(cn)
    }
}

extension DistinguishedName {
    /// The first CommonName attribute's value.
    var commonName: String? { firstValue(of: .RDNAttributeType.commonName) }

    /// The first value of the attribute `type` (e.g. the organizational unit), as a string.
    func firstValue(of type: ASN1ObjectIdentifier) -> String? {
        for rdn in self {
            for attr in rdn where attr.type == type {
                if let s = String(attr.value) { return s }
            }
        }
        return nil
    }
}
