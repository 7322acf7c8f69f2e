#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Crypto
public import X509
import SwiftASN1

/// An X.509 v2 certificate revocation list (RFC 5280 §5), built and signed here because
/// swift-certificates has no CRL type. Pure: the caller passes the times and the key.
///
///     CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
///     TBSCertList ::= SEQUENCE { version v2, signature, issuer Name, thisUpdate, nextUpdate,
///                                revokedCertificates SEQUENCE OF SEQUENCE { userCertificate, revocationDate,
///                                                                          crlEntryExtensions OPTIONAL } OPTIONAL,
///                                crlExtensions [0] EXPLICIT Extensions OPTIONAL }
public enum CertificateRevocationList {
    /// One revoked certificate.
    public struct Entry: Sendable, Equatable {
        /// The certificate's serial number (its unsigned big-endian bytes, as in `Certificate.SerialNumber.bytes`).
        public var serialNumber: [UInt8]
        public var revocationDate: Date
        public var reason: ReasonCode?
        public init(serialNumber: [UInt8], revocationDate: Date, reason: ReasonCode? = nil) {
            self.serialNumber = serialNumber
            self.revocationDate = revocationDate
            self.reason = reason
        }
    }

    /// CRLReason (RFC 5280 §5.3.1).
    public enum ReasonCode: Int, Sendable, CaseIterable {
        case unspecified = 0
        case keyCompromise = 1
        case cACompromise = 2
        case affiliationChanged = 3
        case superseded = 4
        case cessationOfOperation = 5
        case certificateHold = 6
        case privilegeWithdrawn = 9
        case aACompromise = 10

        /// The code for a free-text revocation reason that names one (`key_compromise`, `keyCompromise`,
        /// `Key Compromise`…), else nil (the entry then carries no reason code).
        public init?(reasonText: String) {
            let folded = reasonText.lowercased().filter { $0.isLetter }
            guard let match = Self.allCases.first(where: { "\($0)".lowercased() == folded }) else { return nil }
            self = match
        }
    }

    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
    static let crlNumberOID: ASN1ObjectIdentifier = [2, 5, 29, 20]
    static let reasonCodeOID: ASN1ObjectIdentifier = [2, 5, 29, 21]

    /// The DER of a CRL issued by `issuer` (its subject, its subject key identifier) and signed with
    /// `issuerKey` (ECDSA P-256, SHA-256).
    public static func make(issuer: Certificate, issuerKey: P256.Signing.PrivateKey, number: Int64,
                            thisUpdate: Date, nextUpdate: Date, entries: [Entry]) throws -> [UInt8] {
        var tbs = DER.Serializer()
        try tbs.appendConstructedNode(identifier: .sequence) { c in
            try c.serialize(1)                                     // version v2
            try algorithm(&c)
            try c.serialize(issuer.subject)
            try time(thisUpdate, &c)
            try time(nextUpdate, &c)
            if !entries.isEmpty {
                try c.appendConstructedNode(identifier: .sequence) { c in
                    for e in entries {
                        try c.appendConstructedNode(identifier: .sequence) { c in
                            try c.serialize(ArraySlice(e.serialNumber))
                            try time(e.revocationDate, &c)
                            if let reason = e.reason {
                                try c.appendConstructedNode(identifier: .sequence) { c in
                                    var value = DER.Serializer()
                                    value.appendPrimitiveNode(identifier: .enumerated) { $0.append(UInt8(reason.rawValue)) }
                                    try c.serialize(Certificate.Extension(oid: reasonCodeOID, critical: false, value: value.serializedBytes[...]))
                                }
                            }
                        }
                    }
                }
            }
            try c.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { c in
                try c.appendConstructedNode(identifier: .sequence) { c in
                    let keyID = SubjectKeyIdentifier(hash: issuer.publicKey).keyIdentifier
                    try c.serialize(Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: keyID), critical: false))
                    var value = DER.Serializer()
                    try value.serialize(Int(number))
                    try c.serialize(Certificate.Extension(oid: crlNumberOID, critical: false, value: value.serializedBytes[...]))
                }
            }
        }
        let tbsBytes = tbs.serializedBytes
        let signature = try issuerKey.signature(for: tbsBytes).derRepresentation
        var out = DER.Serializer()
        try out.appendConstructedNode(identifier: .sequence) { c in
            c.serializeRawBytes(tbsBytes)
            try algorithm(&c)
            try c.serialize(ASN1BitString(bytes: ArraySlice(signature)))
        }
        return out.serializedBytes
    }

    /// PEM armour (`-----BEGIN X509 CRL-----`) of a DER CRL.
    public static func pem(_ der: [UInt8]) -> String {
        let b64 = Data(der).base64EncodedString()
        var lines: [Substring] = []
        var rest = Substring(b64)
        while !rest.isEmpty {
            lines.append(rest.prefix(64))
            rest = rest.dropFirst(64)
        }
        return "-----BEGIN X509 CRL-----\n" + lines.joined(separator: "\n") + "\n-----END X509 CRL-----\n"
    }

    private static func algorithm(_ c: inout DER.Serializer) throws {
        try c.appendConstructedNode(identifier: .sequence) { c in try c.serialize(ecdsaWithSHA256) }
    }

    /// UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §5.1.2.4).
    private static func time(_ date: Date, _ c: inout DER.Serializer) throws {
        let t = utc(date)
        if (1950...2049).contains(t.year) {
            try c.serialize(UTCTime(year: t.year, month: t.month, day: t.day, hours: t.hour, minutes: t.minute, seconds: t.second))
        } else {
            try c.serialize(GeneralizedTime(year: t.year, month: t.month, day: t.day, hours: t.hour, minutes: t.minute,
                                            seconds: t.second, fractionalSeconds: 0))
        }
    }

    /// Civil UTC date of `date`, whole seconds (Howard Hinnant's days-to-civil).
    static func utc(_ date: Date) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let secs = Int(date.timeIntervalSince1970.rounded(.down))
        let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let rem = secs - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
    }
}

extension CertificateAuthority {
    /// A CRL signed by this authority's intermediate CA (the issuer of every device certificate).
    public func issueCRL(number: Int64, thisUpdate: Date, nextUpdate: Date,
                         entries: [CertificateRevocationList.Entry]) throws -> [UInt8] {
        try CertificateRevocationList.make(issuer: intermediate, issuerKey: intermediateKey, number: number,
                                           thisUpdate: thisUpdate, nextUpdate: nextUpdate, entries: entries)
    }
}
