/// Fixed numbers of the Birthmark protocol (docs/ARCHITECTURE.md §1).
public enum BirthmarkProtocol {
    /// Derived keys per key table (`key_index` is 0...999).
    public static let keysPerTable = 1000
    /// Default number of key tables (`table_id` is 0..<tableCount).
    public static let defaultTableCount = 2500
    /// Key tables assigned to each device.
    public static let tablesPerDevice = 3
    /// The HKDF `info` suffix after the big-endian key index.
    public static let hkdfInfoLabel: [UInt8] = Array("Birthmark".utf8)
}
