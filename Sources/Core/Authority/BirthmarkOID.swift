public import SwiftASN1

/// Object identifiers of the Birthmark certificate extensions (docs/ARCHITECTURE.md §1).
public enum BirthmarkOID {
    /// manufacturerID, UTF8String.
    public static let manufacturerID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 60000, 1, 1]
    /// maEndpoint (the authority's validation URL), UTF8String.
    public static let maEndpoint: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 60000, 1, 2]
    /// deviceFamily, UTF8String.
    public static let deviceFamily: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 60000, 1, 6]
}
