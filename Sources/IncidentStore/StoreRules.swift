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
