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
}
