import CallTree
import JSONWriting
public import struct Foundation.Data
import class Foundation.JSONDecoder

// What every store implementation checks and says the same way.

extension IncidentStoreError {
    /// A transition opened a new incident for a key whose incident is still open.
    public static func openedOverOpenIncident(
        message: String, opened state: IncidentState, open current: IncidentID
    ) -> IncidentStoreError {
        IncidentStoreError(
            .invalidChanges,
            "message \(message): its transition opened incident \(state.id) for key \(state.key) while incident "
                + "\(current) is open with that key; a trigger for an open key must update that incident.")
    }

    /// A message found no incident and opened none, yet has rows other than timeline entries.
    public static func rowsWithoutIncident(message: String, lookup: IncidentLookup) -> IncidentStoreError {
        IncidentStoreError(
            .invalidChanges,
            "message \(message) found no incident (\(lookup)) and opened none, yet has rows to write: they would "
                + "belong to no incident.")
    }
}

extension IncidentState {
    /// The JSON a store keeps for the state; `.invalidChanges` naming the message when it
    /// cannot be encoded.
    public func storedJSON(message: String) throws -> Data {
        do {
            return try StoredState.encoder.encode(self)
        } catch {
            throw IncidentStoreError(.invalidChanges, "message \(message): cannot encode the state of \(id): \(error)")
        }
    }
}

extension StoredIncident {
    /// Decodes a stored state; `.corruptRow` naming the incident when it cannot.
    public init(id: String, storedJSON: Data, version: Int64) throws {
        do {
            self.init(state: try StoredState.decoder.decode(IncidentState.self, from: storedJSON), version: version)
        } catch {
            throw IncidentStoreError(
                .corruptRow,
                "cannot decode the state of incident \(id): \(error). The row was written by another version of "
                    + "Escalator; run the version that wrote it, or migrate the store.")
        }
    }
}

/// Shared coders for stored states: their options never change, and coding does not mutate them.
enum StoredState {
    static let encoder = StreamingJSONEncoder()
    static let decoder = JSONDecoder()
}

/// The JSON text every store keeps for timeline details and message properties: sorted keys,
/// so equal values are equal text.
public enum StoredText {
    private static let decoder = JSONDecoder()

    public static func decode<Value: Decodable>(_ type: Value.Type, from text: String) throws -> Value {
        try decoder.decode(type, from: Data(text.utf8))
    }

    /// Message properties as `encode(_: MessageProperties)` writes them, read without
    /// `JSONDecoder` (the relay reads one per outbox row: `JSONDecoder` was most of the read);
    /// text in any other form, written by hand say, goes through `JSONDecoder`.
    public static func decodeProperties(_ text: String) throws -> MessageProperties {
        var text = text
        let read = text.withUTF8 { bytes in
            var reader = CanonicalPropertiesReader(bytes: bytes)
            return reader.read()
        }
        if let properties = read {
            return properties
        }
        return try decode(MessageProperties.self, from: text)
    }

    // Every message writes a few timeline details and one set of properties per outbox row: written
    // directly, they cost a fraction of a JSONEncoder pass, and JSONDecoder reads them back the same.

    /// A timeline detail: an object of strings, keys sorted.
    public static func encode(_ object: [String: String]) -> String {
        var json: [UInt8] = [UInt8(ascii: "{")]
        for (index, key) in object.keys.sorted().enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            JSONText.appendString(key, to: &json)
            json.append(UInt8(ascii: ":"))
            JSONText.appendString(object[key]!, to: &json)
        }
        json.append(UInt8(ascii: "}"))
        return String(decoding: json, as: UTF8.self)
    }

    /// Message properties, under the names their `Codable` conformance reads, keys sorted.
    public static func encode(_ properties: MessageProperties) -> String {
        var json: [UInt8] = Array(#"{"contentType":"#.utf8)
        JSONText.appendString(properties.contentType, to: &json)
        if let correlationID = properties.correlationID {
            json += #","correlationID":"#.utf8
            JSONText.appendString(correlationID, to: &json)
        }
        json += #","headers":"#.utf8
        json += encode(properties.headers).utf8
        json += #","persistent":"#.utf8
        json += (properties.persistent ? "true" : "false").utf8
        if let replyTo = properties.replyTo {
            json += #","replyTo":"#.utf8
            JSONText.appendString(replyTo, to: &json)
        }
        json.append(UInt8(ascii: "}"))
        return String(decoding: json, as: UTF8.self)
    }
}

/// Reads exactly the JSON `StoredText.encode(_: MessageProperties)` writes; nil at the first
/// byte that differs from that form.
private struct CanonicalPropertiesReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func read() -> MessageProperties? {
        guard skip(#"{"contentType":"#), let contentType = string() else { return nil }
        var properties = MessageProperties(contentType: contentType)
        if skip(#","correlationID":"#) {
            guard let correlationID = string() else { return nil }
            properties.correlationID = correlationID
        }
        guard skip(#","headers":{"#) else { return nil }
        if !skip("}") {
            repeat {
                guard let key = string(), skip(":"), let value = string() else { return nil }
                properties.headers[key] = value
            } while skip(",")
            guard skip("}") else { return nil }
        }
        guard skip(#","persistent":"#) else { return nil }
        if skip("true") {
            properties.persistent = true
        } else if skip("false") {
            properties.persistent = false
        } else {
            return nil
        }
        if skip(#","replyTo":"#) {
            guard let replyTo = string() else { return nil }
            properties.replyTo = replyTo
        }
        guard skip("}"), index == bytes.count else { return nil }
        return properties
    }

    private mutating func skip(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        let matches = literal.withUTF8Buffer { literal in
            literal.indices.allSatisfy { literal[$0] == bytes[index + $0] }
        }
        if matches { index += count }
        return matches
    }

    /// A string with the escapes `JSONText.appendString` writes; nil for any other.
    private mutating func string() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        var utf8: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "u"):
                    // Only the control characters JSONText writes this way: \u00XX below 0x20.
                    guard bytes.count - index >= 4, bytes[index] == UInt8(ascii: "0"), bytes[index + 1] == UInt8(ascii: "0"),
                        let high = Self.hexValue(bytes[index + 2]), let low = Self.hexValue(bytes[index + 3]), high < 2
                    else { return nil }
                    utf8.append(high << 4 | low)
                    index += 4
                default:
                    return nil
                }
            case 0..<0x20:
                return nil
            default:
                utf8.append(byte)
            }
        }
        return nil
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
