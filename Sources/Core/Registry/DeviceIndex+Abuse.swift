extension DeviceIndex {
    /// `decide`, plus the device's slot (its position in insertion order; -1 for an unknown device).
    @inline(__always)
    public func decideLocating(nucDigest: NUCDigest, table: Int) -> (outcome: ValidationOutcome, slot: Int) {
        guard let slot = slot(nucDigest: nucDigest) else { return (.fail(.unknownDevice), -1) }
        let e = entries[slot]
        guard e.holdsTable(table) else { return (.fail(.tableNotAssigned), slot) }
        guard !e.revoked else { return (.fail(.revoked), slot) }
        return (.pass, slot)
    }

    /// The slot of the device with this serial.
    public func slot(serial: DeviceSerial) -> Int? { slot(serialOf: serial) }

    /// The serial of the device in `slot`.
    public func serial(slot: Int) -> String? {
        slot >= 0 && slot < entries.count ? serialString(entries[slot]) : nil
    }

    /// Whether the device in `slot` is revoked.
    public func isRevoked(slot: Int) -> Bool? {
        slot >= 0 && slot < entries.count ? entries[slot].revoked : nil
    }
}
