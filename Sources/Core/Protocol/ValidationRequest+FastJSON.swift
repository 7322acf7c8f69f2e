extension ValidationRequest {
    /// Decodes the common, plain shape of a `POST /validate` body without Foundation's `JSONDecoder`, or returns nil.
    ///
    /// Accepted (and only this): an object with `camera_token` (an object with exactly the keys `ciphertext`, `auth_tag`,
    /// `nonce`, `table_id`, `key_index`, each once, in any order) and optionally `manufacturer_authority_id` (a string or
    /// null), each once, in any order; strings of printable ASCII without escapes; integers of at most 18 digits without
    /// a fraction, exponent or leading zero; JSON whitespace between tokens. Anything else — other keys, escapes,
    /// non-ASCII, duplicates, other types, malformed JSON — returns nil, and the caller decodes the body with
    /// `JSONDecoder` as before, so errors and every unusual but valid body are handled exactly as they were. What this
    /// accepts, `JSONDecoder` decodes to the same value (checked by `FastValidationJSONTests`).
    public init?(fastJSON bytes: UnsafeRawBufferPointer) {
        var p = FastJSONScanner(bytes)
        guard p.consume(UInt8(ascii: "{")) else { return nil }
        var token: Token?
        var authority: String??
        if !p.consume(UInt8(ascii: "}")) {
            repeat {
                guard let key = p.key() else { return nil }
                if key.elementsEqual("camera_token".utf8) {
                    guard token == nil, let t = Self.token(&p) else { return nil }
                    token = t
                } else if key.elementsEqual("manufacturer_authority_id".utf8) {
                    guard authority == nil else { return nil }
                    if p.literalNull() {
                        authority = .some(nil)
                    } else {
                        guard let s = p.string() else { return nil }
                        authority = .some(String(decoding: s, as: UTF8.self))
                    }
                } else {
                    return nil
                }
            } while p.consume(UInt8(ascii: ","))
            guard p.consume(UInt8(ascii: "}")) else { return nil }
        }
        guard p.atEnd, let token else { return nil }
        self.init(camera_token: token, manufacturer_authority_id: authority ?? nil)
    }

    private static func token(_ p: inout FastJSONScanner) -> Token? {
        guard p.consume(UInt8(ascii: "{")) else { return nil }
        var ciphertext: String?, authTag: String?, nonce: String?, tableID: Int?, keyIndex: Int?
        repeat {
            guard let key = p.key() else { return nil }
            if key.elementsEqual("ciphertext".utf8) {
                guard ciphertext == nil, let s = p.string() else { return nil }
                ciphertext = String(decoding: s, as: UTF8.self)
            } else if key.elementsEqual("auth_tag".utf8) {
                guard authTag == nil, let s = p.string() else { return nil }
                authTag = String(decoding: s, as: UTF8.self)
            } else if key.elementsEqual("nonce".utf8) {
                guard nonce == nil, let s = p.string() else { return nil }
                nonce = String(decoding: s, as: UTF8.self)
            } else if key.elementsEqual("table_id".utf8) {
                guard tableID == nil, let n = p.integer() else { return nil }
                tableID = n
            } else if key.elementsEqual("key_index".utf8) {
                guard keyIndex == nil, let n = p.integer() else { return nil }
                keyIndex = n
            } else {
                return nil
            }
        } while p.consume(UInt8(ascii: ","))
        guard p.consume(UInt8(ascii: "}")), let ciphertext, let authTag, let nonce, let tableID, let keyIndex else { return nil }
        return Token(ciphertext: ciphertext, auth_tag: authTag, nonce: nonce, table_id: tableID, key_index: keyIndex)
    }
}

/// The few JSON tokens `ValidationRequest(fastJSON:)` reads, over borrowed bytes; every method skips leading whitespace
/// and returns nil/false (consuming nothing useful) on anything outside its narrow subset.
private struct FastJSONScanner {
    let bytes: UnsafeRawBufferPointer
    var i = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    var atEnd: Bool {
        mutating get {
            skipWhitespace()
            return i == bytes.count
        }
    }

    mutating func consume(_ c: UInt8) -> Bool {
        skipWhitespace()
        guard i < bytes.count, bytes[i] == c else { return false }
        i += 1
        return true
    }

    /// A string of printable ASCII without escapes: its bytes (between the quotes).
    mutating func string() -> UnsafeRawBufferPointer.SubSequence? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = i
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return bytes[start..<(i - 1)]
            }
            guard c >= 0x20, c < 0x7F, c != UInt8(ascii: "\\") else { return nil }
            i += 1
        }
        return nil
    }

    /// An object key and the colon after it.
    mutating func key() -> UnsafeRawBufferPointer.SubSequence? {
        guard let k = string(), consume(UInt8(ascii: ":")) else { return nil }
        return k
    }

    mutating func literalNull() -> Bool {
        skipWhitespace()
        guard bytes.count - i >= 4, bytes[i] == UInt8(ascii: "n"), bytes[i + 1] == UInt8(ascii: "u"),
              bytes[i + 2] == UInt8(ascii: "l"), bytes[i + 3] == UInt8(ascii: "l") else { return false }
        i += 4
        return true
    }

    /// `-?(0|[1-9][0-9]{0,17})`, followed by whitespace, `,`, `}` or the end (never `.`, `e`, `E`).
    mutating func integer() -> Int? {
        skipWhitespace()
        var negative = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        let start = i
        var value = 0
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
            value = value * 10 + Int(bytes[i] - UInt8(ascii: "0"))
            i += 1
            if i - start > 18 { return nil }
        }
        let digits = i - start
        guard digits > 0, !(digits > 1 && bytes[start] == UInt8(ascii: "0")), !(negative && value == 0) else { return nil }
        if i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "}"): break
            default: return nil
            }
        }
        return negative ? -value : value
    }
}
