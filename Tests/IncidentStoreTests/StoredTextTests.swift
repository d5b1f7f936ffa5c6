import Foundation
import IncidentStore
import Testing

@Suite("Stored JSON text")
struct StoredTextTests {
    static let awkward = [
        "", "plain", "quote \" inside", "back\\slash", "new\nline and\ttab\rreturn", "bell \u{07} and nul \u{00}",
        "slash / kept", "倉庫火警 · 仓库火警", "emoji 🚒", "\u{1F}\u{7F}",
    ]

    @Test("A timeline detail written directly reads back exactly, whatever its strings hold")
    func detailRoundTrips() throws {
        var detail: [String: String] = [:]
        for (index, value) in Self.awkward.enumerated() { detail["key \(index) \(value)"] = value }
        let text = StoredText.encode(detail)
        #expect(try StoredText.decode([String: String].self, from: text) == detail)
        // Keys sorted: equal details are equal text.
        #expect(StoredText.encode(["b": "2", "a": "1"]) == #"{"a":"1","b":"2"}"#)
        #expect(StoredText.encode([:]) == "{}")
    }

    @Test("Message properties written directly read back exactly through their Codable conformance")
    func propertiesRoundTrip() throws {
        let cases = [
            MessageProperties(),
            MessageProperties(correlationID: "page:inc-1:ops:1:1:lee", replyTo: "escalator.replies"),
            MessageProperties(contentType: "text/plain; \"x\"", persistent: false, headers: ["x-escalator-error": Self.awkward[4]]),
        ]
        for properties in cases {
            let text = StoredText.encode(properties)
            #expect(try StoredText.decode(MessageProperties.self, from: text) == properties)
        }
    }

    @Test("Message properties read back without JSONDecoder are what was written, and text in another form still reads")
    func propertiesReadDirectly() throws {
        var cases = [
            MessageProperties(),
            MessageProperties(correlationID: "page:inc-1:ops:1:1:lee", replyTo: "escalator.replies"),
            MessageProperties(contentType: "", persistent: false, headers: ["": ""]),
        ]
        for (index, value) in Self.awkward.enumerated() {
            cases.append(
                MessageProperties(
                    contentType: value, correlationID: value, replyTo: index % 2 == 0 ? value : nil, persistent: index % 2 == 0,
                    headers: ["x-\(index)": value, value: "v", "x-escalator-error": Self.awkward[4]]))
        }
        for properties in cases {
            #expect(try StoredText.decodeProperties(StoredText.encode(properties)) == properties)
        }
        // Written by hand or by another version: spaces, other key order, other escapes.
        let other = #"{ "persistent": false, "headers": {"a": "\u00e9\/"}, "contentType": "text/plain" }"#
        #expect(
            try StoredText.decodeProperties(other)
                == MessageProperties(contentType: "text/plain", persistent: false, headers: ["a": "é/"]))
        #expect(throws: (any Error).self) { try StoredText.decodeProperties(#"{"contentType":"x","headers":{}"#) }
    }
}
