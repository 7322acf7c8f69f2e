/// Hexadecimal encoding and strict decoding (no prefixes, no separators).
public enum Hex {
    @usableFromInline
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lower-case hex of `bytes`.
    public static func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes an even-length hex string (either case); nil for anything else.
    public static func decode(_ string: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(string.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8](repeating: 0, count: utf8.count / 2)
        let ok = out.withUnsafeMutableBytes { decode(utf8: utf8, into: $0) }
        return ok ? out : nil
    }

    /// Decodes exactly `buffer.count` bytes from `utf8` (which must be twice as long).
    @inlinable
    public static func decode(utf8: some Collection<UInt8>, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard utf8.count == buffer.count * 2 else { return false }
        var i = utf8.startIndex
        var o = 0
        while i != utf8.endIndex {
            guard let hi = nibble(utf8[i]) else { return false }
            i = utf8.index(after: i)
            guard let lo = nibble(utf8[i]) else { return false }
            i = utf8.index(after: i)
            buffer[o] = hi << 4 | lo
            o += 1
        }
        return true
    }

    @inlinable
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }
}
