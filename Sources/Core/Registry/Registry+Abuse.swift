extension Registry {
    /// Validation counts per device slot since the previous call (atomically reset), for abuse detection.
    public func drainValidationCounts() -> [(slot: Int, count: UInt32)] {
        state.withReadLock { s in counters.drain(slots: s.index.count) }
    }

    /// Counts one validation of `serial` (a certificate bundle that identified the device) for the image
    /// tagged `imageTag` (`ValidationCounters.tag`): the same image submitted again counts once.
    public func countValidation(serial: DeviceSerial, imageTag: UInt32, caller: UInt32 = 0) {
        guard countsValidations else { return }
        state.withReadLock { s in
            if let slot = s.index.slot(serial: serial), counters.increment(slot: slot, tag: imageTag), caller != 0,
               CallerSamples.isSample(tag: imageTag) {
                callers.record(slot: slot, caller: caller)
            }
        }
    }

    /// Serials of the given slots (nil where unknown).
    public func serials(slots: [Int]) -> [String?] {
        state.withReadLock { s in slots.map { s.index.serial(slot: $0) } }
    }

    /// The slot of a serial, for abuse detection.
    public func slot(serial: DeviceSerial) -> Int? {
        state.withReadLock { $0.index.slot(serial: serial) }
    }

    /// Forgets the undrained validation count of `serial` (a reinstated device starts a new window). Returns its slot.
    @discardableResult
    public func resetValidationCount(serial: DeviceSerial) -> Int? {
        state.withReadLock { s in
            guard let slot = s.index.slot(serial: serial) else { return nil }
            counters.reset(slot: slot)
            callers.reset(slot: slot)
            return slot
        }
    }
}
