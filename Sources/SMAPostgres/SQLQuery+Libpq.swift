internal import CLibPQ

extension SQLQuery {
    /// Lends the binds as libpq's parallel arrays (count, types, values, lengths, formats).
    ///
    /// All values live in one buffer for the duration of `body`. A non-NULL empty value gets a non-NULL
    /// pointer (libpq would read a NULL pointer as SQL NULL). Text-format values are NUL-terminated,
    /// since libpq ignores their lengths, so a NUL inside one is rejected instead of silently truncating it.
    func withLibpqParameters<R>(
        _ body: (Int32, UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> R
    ) throws(PostgresError) -> R {
        guard binds.count <= Int(UInt16.max) else { throw .encoding("more than 65535 binds") }
        if binds.isEmpty { return body(0, nil, nil, nil, nil) }
        var types: [Oid] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        var offsets: [Int?] = []
        var storage: [UInt8] = []
        storage.reserveCapacity(binds.reduce(1) { $0 + ($1.bytes?.count ?? 0) + 1 })
        for (index, bind) in binds.enumerated() {
            types.append(bind.type.oid)
            formats.append(bind.format == .binary ? 1 : 0)
            guard let bytes = bind.bytes else {
                lengths.append(0)
                offsets.append(nil)
                continue
            }
            guard bytes.count < Int(Int32.max) else { throw .encoding("bind $\(index + 1) is larger than 2 GiB") }
            if bind.format == .text, bytes.contains(0) {
                throw .encoding("bind $\(index + 1) is text with a NUL byte")
            }
            lengths.append(Int32(bytes.count))
            offsets.append(storage.count)
            storage.append(contentsOf: bytes)
            if bind.format == .text { storage.append(0) }
        }
        storage.append(0)  // so every offset, also of a trailing empty value, points inside the buffer
        return storage.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { characters in
                let base = characters.baseAddress!
                let values: [UnsafePointer<CChar>?] = offsets.map { $0.map { base + $0 } }
                return values.withUnsafeBufferPointer { values in
                    types.withUnsafeBufferPointer { types in
                        lengths.withUnsafeBufferPointer { lengths in
                            formats.withUnsafeBufferPointer { formats in
                                body(Int32(binds.count), types.baseAddress, values.baseAddress, lengths.baseAddress, formats.baseAddress)
                            }
                        }
                    }
                }
            }
        }
    }
}
