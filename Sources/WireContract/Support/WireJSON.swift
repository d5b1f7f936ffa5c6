import Foundation
public import JSONWriting

/// One encoder for everything Escalator publishes: sorted keys make a message's bytes a
/// function of its content, so a republished message is byte-identical to the first.
public enum WireJSON {
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        Array(try encoder.encode(value))
    }

    /// The same bytes as `encode(_:)` gives, written directly (`JSONText`): what a worker
    /// publishes is encoded here, once per message.
    public static func encode(_ message: some WireMessage) -> [UInt8] {
        var json = JSONText()
        message.write(to: &json)
        return json.bytes
    }

    /// Shared: its options never change after this, and encoding does not mutate it.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The largest message accepted from upstream or a gateway.
    public static let maximumMessageSize = 1 << 20
}
