public import struct Foundation.Data

/// Encodes an `Encodable` value to JSON in one pass, writing each member as it is encoded.
///
/// `JSONEncoder` first builds a tree of boxed values and then walks it; for the incident state
/// every transition stores, that was most of the cost of the encoding. This writes straight
/// into bytes. `Encoder` never says when a container is finished, so containers are closed
/// lazily: writing to a container first closes every container opened inside it since, and
/// `encode` closes what is still open at the end. That suits values that encode their members
/// one after another, as synthesized conformances do; a value that keeps a container and comes
/// back to it after encoding a sibling is refused (`EncodingError.invalidValue`).
///
/// The output is JSON that `JSONDecoder` reads to the same value (keys in encoding order, not
/// sorted); what stores keep as a state is never compared byte for byte. Coding paths are not
/// tracked (building one per member cost as much as the rest): an error says what is wrong,
/// and the encoders hand values an empty `codingPath`. No value gets special treatment: `Data`
/// is written as its `Encodable` conformance has it (an array of bytes), not in base64 as
/// `JSONEncoder` writes it, and the same goes for `URL` and `Decimal`, which `JSONEncoder`
/// writes as a string and a number: values holding them need `JSONEncoder`. A
/// `superEncoder` nobody writes to leaves its key without a value.
public struct StreamingJSONEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> Data {
        let output = JSONOutput()
        try value.encode(to: StreamingEncoder(output: output, depth: 0))
        if let failure = output.failure { throw failure }
        if output.bytes.isEmpty {
            throw EncodingError.invalidValue(
                value, EncodingError.Context(codingPath: [], debugDescription: "the value encoded nothing"))
        }
        output.close(above: 0)
        return Data(output.bytes)
    }
}

/// The bytes written so far, and the containers still open, outermost first.
private final class JSONOutput {
    var bytes: [UInt8] = []
    /// Whether each open container is an object (else an array), whether it has members yet,
    /// and its serial: a container closed and another opened in its place is not the same.
    var open: [(isObject: Bool, hasMembers: Bool, serial: Int)] = []
    private var opened = 0
    /// A misuse found where `Encoder` gives no way to throw (opening a nested container).
    var failure: (any Error)?

    init() { bytes.reserveCapacity(1024) }

    /// Closes the containers opened deeper than `depth` (their count is then `depth`).
    func close(above depth: Int) {
        while open.count > depth {
            bytes.append(open.removeLast().isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }
    }

    /// Opens a container at `depth` (the count of containers around it); returns its serial.
    func openContainer(isObject: Bool, depth: Int) -> Int {
        close(above: depth)
        bytes.append(isObject ? UInt8(ascii: "{") : UInt8(ascii: "["))
        opened += 1
        open.append((isObject, false, opened))
        return opened
    }

    /// Ready to write a member of the container at `index`: closes what was opened inside it
    /// since, and writes the separator.
    func beginMember(ofContainerAt index: Int, serial: Int) throws {
        guard index < open.count, open[index].serial == serial else {
            throw EncodingError.invalidValue(
                "", EncodingError.Context(codingPath: [], debugDescription: "written to a container already closed"))
        }
        close(above: index + 1)
        if open[index].hasMembers { bytes.append(UInt8(ascii: ",")) }
        open[index].hasMembers = true
    }

    func appendString(_ string: String) {
        JSONText.appendString(string, to: &bytes)
    }

    func appendNumber(_ value: some BinaryInteger) {
        JSONText.appendInteger(value, to: &bytes)
    }

    func appendNumber(_ value: Double) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, EncodingError.Context(codingPath: [], debugDescription: "\(value) is not a JSON number"))
        }
        // Integral values as integers (as JSONEncoder writes them); others in Swift's shortest
        // round-tripping form.
        if value == value.rounded(), abs(value) < 1e15 {
            appendNumber(Int64(value))
        } else {
            bytes += "\(value)".utf8
        }
    }
}

/// The encoder handed to one value: its containers open at `depth`.
private struct StreamingEncoder: Encoder {
    let output: JSONOutput
    let depth: Int
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let serial = openIfNeeded(isObject: true)
        return KeyedEncodingContainer(KeyedContainer<Key>(output: output, index: depth, serial: serial))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let serial = openIfNeeded(isObject: false)
        return UnkeyedContainer(output: output, index: depth, serial: serial)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(output: output, depth: depth)
    }

    /// Asking for the container again returns the one already open.
    private func openIfNeeded(isObject: Bool) -> Int {
        if output.open.count > depth { return output.open[depth].serial }
        return output.openContainer(isObject: isObject, depth: depth)
    }
}

/// Encodes one member's value: `{}` when the value wrote nothing, as `JSONEncoder` does.
private func encodeMember(
    _ value: some Encodable, output: JSONOutput, depth: Int
) throws {
    let start = output.bytes.count
    try value.encode(to: StreamingEncoder(output: output, depth: depth))
    if output.bytes.count == start { output.bytes += "{}".utf8 }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let output: JSONOutput
    /// This container's place in `output.open`, and its serial there.
    let index: Int
    let serial: Int
    var codingPath: [any CodingKey] { [] }

    private func begin(_ key: Key) throws {
        try output.beginMember(ofContainerAt: index, serial: serial)
        output.appendString(key.stringValue)
        output.bytes.append(UInt8(ascii: ":"))
    }

    mutating func encodeNil(forKey key: Key) throws {
        try begin(key)
        output.bytes += "null".utf8
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws {
        try begin(key)
        output.bytes += (value ? "true" : "false").utf8
    }

    mutating func encode(_ value: String, forKey key: Key) throws {
        try begin(key)
        output.appendString(value)
    }

    mutating func encode(_ value: Double, forKey key: Key) throws {
        try begin(key)
        try output.appendNumber(value)
    }

    mutating func encode(_ value: Float, forKey key: Key) throws {
        try encode(Double(value), forKey: key)
    }

    mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); output.appendNumber(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); output.appendNumber(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); output.appendNumber(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); output.appendNumber(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); output.appendNumber(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); output.appendNumber(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); output.appendNumber(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); output.appendNumber(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); output.appendNumber(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); output.appendNumber(value) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try begin(key)
        try encodeMember(value, output: output, depth: index + 1)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        // `Encoder` gives this method no way to throw: a misuse is thrown at the end.
        beginOrRecordFailure(key)
        let nested = output.openContainer(isObject: true, depth: index + 1)
        return KeyedEncodingContainer(
            KeyedContainer<NestedKey>(output: output, index: index + 1, serial: nested))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        beginOrRecordFailure(key)
        let nested = output.openContainer(isObject: false, depth: index + 1)
        return UnkeyedContainer(output: output, index: index + 1, serial: nested)
    }

    mutating func superEncoder() -> any Encoder {
        superEncoder(forKey: Key(stringValue: "super")!)
    }

    private func beginOrRecordFailure(_ key: Key) {
        do { try begin(key) } catch { output.failure = output.failure ?? error }
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        beginOrRecordFailure(key)
        return StreamingEncoder(output: output, depth: index + 1)
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let output: JSONOutput
    let index: Int
    let serial: Int
    var codingPath: [any CodingKey] { [] }
    private(set) var count = 0

    init(output: JSONOutput, index: Int, serial: Int) {
        self.output = output
        self.index = index
        self.serial = serial
    }

    private mutating func begin() throws {
        try output.beginMember(ofContainerAt: index, serial: serial)
        count += 1
    }

    private mutating func beginOrRecordFailure() {
        do { try begin() } catch { output.failure = output.failure ?? error }
    }

    mutating func encodeNil() throws { try begin(); output.bytes += "null".utf8 }
    mutating func encode(_ value: Bool) throws { try begin(); output.bytes += (value ? "true" : "false").utf8 }
    mutating func encode(_ value: String) throws { try begin(); output.appendString(value) }
    mutating func encode(_ value: Double) throws {
        try begin()
        try output.appendNumber(value)
    }
    mutating func encode(_ value: Float) throws { try encode(Double(value)) }
    mutating func encode(_ value: Int) throws { try begin(); output.appendNumber(value) }
    mutating func encode(_ value: Int8) throws { try begin(); output.appendNumber(value) }
    mutating func encode(_ value: Int16) throws { try begin(); output.appendNumber(value) }
    mutating func encode(_ value: Int32) throws { try begin(); output.appendNumber(value) }
    mutating func encode(_ value: Int64) throws { try begin(); output.appendNumber(value) }
    mutating func encode(_ value: UInt) throws { try begin(); output.appendNumber(value) }
    mutating func encode(_ value: UInt8) throws { try begin(); output.appendNumber(value) }
    mutating func encode(_ value: UInt16) throws { try begin(); output.appendNumber(value) }
    mutating func encode(_ value: UInt32) throws { try begin(); output.appendNumber(value) }
    mutating func encode(_ value: UInt64) throws { try begin(); output.appendNumber(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try begin()
        try encodeMember(value, output: output, depth: index + 1)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        beginOrRecordFailure()
        let nested = output.openContainer(isObject: true, depth: index + 1)
        return KeyedEncodingContainer(
            KeyedContainer<NestedKey>(
                output: output, index: index + 1, serial: nested))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        beginOrRecordFailure()
        let nested = output.openContainer(isObject: false, depth: index + 1)
        return UnkeyedContainer(output: output, index: index + 1, serial: nested)
    }

    mutating func superEncoder() -> any Encoder {
        beginOrRecordFailure()
        return StreamingEncoder(output: output, depth: index + 1)
    }
}

/// One value in place: at the top, or as the value of the member just begun.
private struct SingleValueContainer: SingleValueEncodingContainer {
    let output: JSONOutput
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    private func begin() {
        // At the top the value is the whole output; as a member its key is already written.
        output.close(above: depth)
    }

    mutating func encodeNil() throws { begin(); output.bytes += "null".utf8 }
    mutating func encode(_ value: Bool) throws { begin(); output.bytes += (value ? "true" : "false").utf8 }
    mutating func encode(_ value: String) throws { begin(); output.appendString(value) }
    mutating func encode(_ value: Double) throws { begin(); try output.appendNumber(value) }
    mutating func encode(_ value: Float) throws { try encode(Double(value)) }
    mutating func encode(_ value: Int) throws { begin(); output.appendNumber(value) }
    mutating func encode(_ value: Int8) throws { begin(); output.appendNumber(value) }
    mutating func encode(_ value: Int16) throws { begin(); output.appendNumber(value) }
    mutating func encode(_ value: Int32) throws { begin(); output.appendNumber(value) }
    mutating func encode(_ value: Int64) throws { begin(); output.appendNumber(value) }
    mutating func encode(_ value: UInt) throws { begin(); output.appendNumber(value) }
    mutating func encode(_ value: UInt8) throws { begin(); output.appendNumber(value) }
    mutating func encode(_ value: UInt16) throws { begin(); output.appendNumber(value) }
    mutating func encode(_ value: UInt32) throws { begin(); output.appendNumber(value) }
    mutating func encode(_ value: UInt64) throws { begin(); output.appendNumber(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        begin()
        try encodeMember(value, output: output, depth: depth)
    }
}
