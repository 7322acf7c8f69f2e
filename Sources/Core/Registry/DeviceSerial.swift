/// A device serial: the one identity of a camera in memory, SQL, the log and its certificate's subject CN
/// (docs/ARCHITECTURE.md §1.4).
///
/// Equality and hashing are **byte-wise on UTF-8**. `String`'s `==` and hashing use Unicode canonical equivalence
/// (`"CAF\u{C9}" == "CAFE\u{301}"`), while PostgreSQL's `text` equality and the `devices` primary key compare bytes;
/// keying memory by `DeviceSerial` makes the two decide "same device" identically.
///
/// New input is checked once, at the edge, with `init(_:field:)` (the serial alphabet, `DeviceText`). A serial read
/// back from the log, the database or a certificate we issued is taken as it is (`init(unchecked:)`): entries signed
/// under older rules must still apply on a replica that replays history.
public struct DeviceSerial: Sendable, Hashable, CustomStringConvertible {
    /// The serial as stored: these exact UTF-8 bytes.
    public let string: String

    /// Checks new input (a provisioning request, a `{serial}` path segment) against the serial alphabet.
    /// - Parameters:
    ///   - raw: the serial exactly as sent (not normalised: non-NFC input is refused, never rewritten).
    ///   - field: the JSON path or parameter named in the error.
    /// - Throws: `InputError` naming `field` and the rule broken.
    public init(_ raw: String, field: String = "device_serial") throws(InputError) {
        try DeviceText.check(raw, field: field)
        string = raw
    }

    /// A serial accepted before (from the log, the database or a certificate this authority issued): not re-checked,
    /// compared by its bytes.
    public init(unchecked string: String) {
        self.string = string
    }

    public static func == (a: DeviceSerial, b: DeviceSerial) -> Bool {
        a.string.utf8.elementsEqual(b.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(s.utf8.count)
    }

    public var description: String { string }
}

/// The alphabet of device serials and device families (docs/ARCHITECTURE.md §1.4), checked once at the edge.
///
/// A value is 1 to 64 bytes of UTF-8 (an X.509 CN allows 64), in Unicode NFC, and made only of assigned, printable
/// characters: no control (Cc), format (Cf: zero-width, bidi overrides, BOM), surrogate, private-use or unassigned
/// code points, no line or paragraph separators and no whitespace but U+0020 SPACE, which may not lead or trail.
/// It may not start with a combining mark (a combining-only character).
public enum DeviceText {
    /// Largest value in UTF-8 bytes.
    public static let maxBytes = 64

    /// Throws `InputError(field:)` with the first rule `value` breaks.
    public static func check(_ value: String, field: String) throws(InputError) {
        if let problem = problem(value) { throw InputError(field: field, problem) }
    }

    /// The first rule `value` breaks, as the error message says it; nil when it is acceptable.
    public static func problem(_ value: String) -> String? {
        let bytes = value.utf8.count
        guard bytes >= 1, bytes <= maxBytes else { return "must be 1 to \(maxBytes) bytes of UTF-8" }
        var ascii = true
        for scalar in value.unicodeScalars {
            if scalar.isASCII {
                if scalar.value == 0 { return "must not contain NUL characters" }
                if scalar.value < 0x20 || scalar.value == 0x7F { return "must not contain control characters or line breaks" }
                continue
            }
            ascii = false
            switch scalar.properties.generalCategory {
            case .control:
                return "must not contain control characters or line breaks"
            case .format:
                return "must not contain invisible format characters (zero-width, bidi controls, byte order mark)"
            case .lineSeparator, .paragraphSeparator:
                return "must not contain control characters or line breaks"
            case .surrogate, .privateUse, .unassigned:
                return "must not contain unassigned or private-use characters"
            default:
                if scalar.properties.isWhitespace { return "must not contain whitespace other than the space (U+0020)" }
            }
        }
        let scalars = value.unicodeScalars
        if scalars.first == " " || scalars.last == " " { return "must not start or end with a space" }
        if !ascii {
            switch scalars.first!.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark: return "must not start with a combining mark"
            default: break
            }
            // The standard library's NFC, the same Unicode data that `String ==` uses.
            if !value.utf8.elementsEqual(value._nfcCodeUnits) {
                return "must be in Unicode normalization form NFC (precomposed characters)"
            }
        }
        return nil
    }
}
