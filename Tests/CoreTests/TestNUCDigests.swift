import Core

/// The NUC digest key of Core's tests: registries get it with `installNUCDigestKey`, devices are indexed by its digests.
let testNUCDigestKey = Bytes32([UInt8](repeating: 0x5a, count: 32))!
let testNUCDigester = NUCDigester(key: testNUCDigestKey)

extension RegisteredDevice {
    /// A device indexed by the digest of `nucHash` under `testNUCDigestKey`.
    init(serial: String, nucHash: NUCHash, tableIDs: [Int], revoked: Bool = false) {
        self.init(serial: serial, nucDigest: testNUCDigester.digest(nucHash), tableIDs: tableIDs, revoked: revoked)
    }
}
