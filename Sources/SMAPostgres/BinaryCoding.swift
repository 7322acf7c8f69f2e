/// Big-endian reading and writing of PostgreSQL's binary wire formats.
enum BinaryCoding {
    /// Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01 (UTC).
    static let postgresEpochOffsetMicroseconds: Int64 = 946_684_800 * 1_000_000

    static func append<I: FixedWidthInteger>(_ value: I, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    static func bytes<I: FixedWidthInteger>(of value: I) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(MemoryLayout<I>.size)
        append(value, to: &out)
        return out
    }

    /// Reads a big-endian integer at `offset` bytes from the slice's start; nil if the slice is too short.
    static func read<I: FixedWidthInteger>(_: I.Type, from bytes: ArraySlice<UInt8>, at offset: Int = 0) -> I? {
        let size = MemoryLayout<I>.size
        guard offset >= 0, bytes.count >= offset + size else { return nil }
        var value: I = 0
        var index = bytes.startIndex + offset
        for _ in 0..<size {
            value = (value << 8) | I(truncatingIfNeeded: bytes[index])
            index += 1
        }
        return value
    }

    /// Reads exactly one big-endian integer filling the whole slice.
    static func readExact<I: FixedWidthInteger>(_: I.Type, from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> I {
        guard bytes.count == MemoryLayout<I>.size, let value = read(I.self, from: bytes) else {
            throw .decoding("\(type) value has \(bytes.count) bytes, expected \(MemoryLayout<I>.size)")
        }
        return value
    }

    /// Reads int2, int4 or int8 as Int64.
    static func readInteger(from bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresError) -> Int64? {
        switch type {
        case .int2: return Int64(try readExact(Int16.self, from: bytes, type: type))
        case .int4: return Int64(try readExact(Int32.self, from: bytes, type: type))
        case .int8: return try readExact(Int64.self, from: bytes, type: type)
        case .oidType: return Int64(try readExact(UInt32.self, from: bytes, type: type))
        default: return nil
        }
    }

    // MARK: Arrays

    /// Encodes a one-dimensional array without NULLs (binary format): ndim, flags, element oid, size, lower bound, elements.
    static func encodeArray(elementType: PostgresDataType, elements: [[UInt8]]) throws(PostgresError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(20 + elements.reduce(0) { $0 + 4 + $1.count })
        guard elements.count <= Int32.max else { throw .encoding("array too long") }
        append(Int32(elements.isEmpty ? 0 : 1), to: &out)
        append(Int32(0), to: &out)
        append(elementType.oid, to: &out)
        if !elements.isEmpty {
            append(Int32(elements.count), to: &out)
            append(Int32(1), to: &out)
        }
        for element in elements {
            guard element.count <= Int32.max else { throw .encoding("array element too long") }
            append(Int32(element.count), to: &out)
            out.append(contentsOf: element)
        }
        return out
    }

    /// Decodes a one-dimensional binary array; NULL elements are passed as nil.
    static func decodeArray<Element>(
        _ bytes: ArraySlice<UInt8>,
        type: PostgresDataType,
        element decode: (ArraySlice<UInt8>?, PostgresDataType) throws(PostgresError) -> Element
    ) throws(PostgresError) -> [Element] {
        guard let ndim = read(Int32.self, from: bytes, at: 0),
              read(Int32.self, from: bytes, at: 4) != nil,
              let elementOID = read(UInt32.self, from: bytes, at: 8)
        else { throw .decoding("\(type) value is too short for an array") }
        let elementType = PostgresDataType(oid: elementOID)
        if ndim == 0 { return [] }
        guard ndim == 1 else { throw .decoding("\(type) value has \(ndim) dimensions, only 1 is supported") }
        guard let count = read(Int32.self, from: bytes, at: 12), count >= 0, read(Int32.self, from: bytes, at: 16) != nil else {
            throw .decoding("\(type) value has a malformed dimension header")
        }
        var result: [Element] = []
        result.reserveCapacity(Int(count))
        var offset = 20
        for _ in 0..<Int(count) {
            guard let length = read(Int32.self, from: bytes, at: offset) else {
                throw .decoding("\(type) value is truncated")
            }
            offset += 4
            if length < 0 {
                result.append(try decode(nil, elementType))
                continue
            }
            let start = bytes.startIndex + offset
            guard bytes.count >= offset + Int(length) else { throw .decoding("\(type) value is truncated") }
            result.append(try decode(bytes[start..<(start + Int(length))], elementType))
            offset += Int(length)
        }
        return result
    }

    // MARK: Numeric

    /// Decodes binary `numeric` (ndigits, weight, sign, dscale, base-10000 digits) into its decimal text.
    static func numericString(from bytes: ArraySlice<UInt8>) throws(PostgresError) -> String {
        guard let ndigits = read(Int16.self, from: bytes, at: 0),
              let weight = read(Int16.self, from: bytes, at: 2),
              let sign = read(UInt16.self, from: bytes, at: 4),
              let dscale = read(Int16.self, from: bytes, at: 6),
              ndigits >= 0, bytes.count == 8 + 2 * Int(ndigits)
        else { throw .decoding("numeric value is malformed") }
        switch sign {
        case 0xC000: return "NaN"
        case 0xD000: return "Infinity"
        case 0xF000: return "-Infinity"
        default: break
        }
        var digits: [Int] = []
        for i in 0..<Int(ndigits) {
            digits.append(Int(read(Int16.self, from: bytes, at: 8 + 2 * i)!))
        }
        func group(_ index: Int) -> Int { index >= 0 && index < digits.count ? digits[index] : 0 }
        // Integer part: groups 0...weight.
        var integer = ""
        if weight < 0 {
            integer = "0"
        } else {
            for i in 0...Int(weight) {
                let g = group(i)
                if i == 0 {
                    integer += String(g)
                } else {
                    let s = String(g)
                    integer += String(repeating: "0", count: 4 - s.count) + s
                }
            }
        }
        var fraction = ""
        if dscale > 0 {
            var i = Int(weight) + 1
            while fraction.count < Int(dscale) {
                let s = String(group(i))
                fraction += String(repeating: "0", count: 4 - s.count) + s
                i += 1
            }
            fraction = String(fraction.prefix(Int(dscale)))
        }
        let negative = sign == 0x4000
        return (negative ? "-" : "") + integer + (fraction.isEmpty ? "" : "." + fraction)
    }
}
