/// JSON written straight into bytes, the way `JSONEncoder` with `.sortedKeys` and
/// `.withoutEscapingSlashes` writes it: keys in the order the caller gives (sorted, for wire
/// messages), slashes unescaped, the short escapes `\b \t \n \f \r`, other control characters
/// as lowercase `\u00xx`, everything else as its UTF-8.
///
/// Every page, status update and notice is encoded once per transition; `JSONEncoder` builds a
/// tree of boxed values, sorts each object's keys and walks it again, which made it the largest
/// single cost of working out a transition. The messages write themselves through this instead,
/// and a test holds their bytes equal to `JSONEncoder`'s.
public struct JSONText: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    /// An object; `fields` writes its members with the `field` methods, in sorted key order.
    public mutating func object(_ fields: (inout JSONText) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        fields(&self)
        bytes.append(UInt8(ascii: "}"))
    }

    /// An array; `elements` writes its values with `element`.
    public mutating func array(_ elements: (inout JSONText) -> Void) {
        bytes.append(UInt8(ascii: "["))
        elements(&self)
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func field(_ key: StaticString, _ value: String) {
        self.key(key)
        appendString(value)
    }

    /// `null` when absent: the key is always there.
    public mutating func field(_ key: StaticString, _ value: String?) {
        self.key(key)
        if let value { appendString(value) } else { bytes += "null".utf8 }
    }

    public mutating func field(_ key: StaticString, _ value: Int) {
        self.key(key)
        Self.appendInteger(value, to: &bytes)
    }

    /// `null` when absent: the key is always there.
    public mutating func field(_ key: StaticString, _ value: Int?) {
        self.key(key)
        if let value { Self.appendInteger(value, to: &bytes) } else { bytes += "null".utf8 }
    }

    public mutating func field(_ key: StaticString, _ value: Bool) {
        self.key(key)
        bytes += (value ? "true" : "false").utf8
    }

    /// A member whose value `write` writes (an object or an array).
    public mutating func field(_ key: StaticString, _ write: (inout JSONText) -> Void) {
        self.key(key)
        write(&self)
    }

    /// The separator before a member or an element: none right after the opening bracket.
    private mutating func separate() {
        if let last = bytes.last, last != UInt8(ascii: "{"), last != UInt8(ascii: "[") {
            bytes.append(UInt8(ascii: ","))
        }
    }

    private mutating func key(_ key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes += $0 }
        bytes += "\":".utf8
    }

    /// An element of an array: an object.
    public mutating func element(_ write: (inout JSONText) -> Void) {
        separate()
        write(&self)
    }

    private mutating func appendString(_ string: String) {
        Self.appendString(string, to: &bytes)
    }

    /// A JSON string (RFC 8259 §7) with the escapes above; runs of plain bytes copied at once.
    public static func appendString(_ string: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var start = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes += UnsafeBufferPointer(rebasing: utf8[start..<index])
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): bytes += #"\""#.utf8
                case UInt8(ascii: "\\"): bytes += #"\\"#.utf8
                case 0x08: bytes += #"\b"#.utf8
                case 0x09: bytes += #"\t"#.utf8
                case 0x0A: bytes += #"\n"#.utf8
                case 0x0C: bytes += #"\f"#.utf8
                case 0x0D: bytes += #"\r"#.utf8
                default:
                    bytes += #"\u00"#.utf8
                    bytes.append(hexDigits[Int(byte >> 4)])
                    bytes.append(hexDigits[Int(byte & 0xF)])
                }
            }
            bytes += UnsafeBufferPointer(rebasing: utf8[start...])
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// An integer's decimal digits, written in place without a `String` per number.
    public static func appendInteger(_ value: some BinaryInteger, to bytes: inout [UInt8]) {
        guard value != 0 else {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        guard let magnitude = UInt64(exactly: value.magnitude) else {
            bytes += String(value).utf8
            return
        }
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var remaining = magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 20 digits of UInt64.max
        withUnsafeMutableBytes(of: &digits) { buffer in
            var index = buffer.count
            while remaining > 0 {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
            }
            bytes += buffer[index...]
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
