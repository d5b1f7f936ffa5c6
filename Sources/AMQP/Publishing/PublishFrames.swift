import CRabbitMQ

/// The frames of many `basic.publish`es laid end to end, for one write to the socket.
///
/// rabbitmq-c's `amqp_basic_publish` makes one `send` per frame: three per message (method,
/// content header, body). For a publisher that writes hundreds of messages a turn those system
/// calls were about a tenth of the worker's CPU. Here the method and properties are still encoded
/// by rabbitmq-c (`amqp_encode_method`, `amqp_encode_properties`); only the framing around them
/// (AMQP 0-9-1 §4.2.3: type, channel, size, payload, frame end) is written here.
struct PublishFrames {
    private(set) var bytes: [UInt8] = []
    /// Where rabbitmq-c encodes a method or properties before they are copied behind their frame
    /// header; as large as a frame may be.
    private var scratch: [UInt8]
    let channel: UInt16
    /// The largest frame the connection negotiated, header and frame end included.
    let frameMax: Int

    /// Frame type, channel and payload size before the payload; the frame-end octet after it.
    static let frameOverhead = 8

    init(channel: amqp_channel_t, frameMax: Int) {
        self.channel = channel
        self.frameMax = frameMax
        scratch = [UInt8](repeating: 0, count: frameMax)
        bytes.reserveCapacity(64 * 1024)
    }

    /// Empties the buffer for the next write, keeping its room unless one very large message
    /// grew it past `limit`: that is not held for the publisher's lifetime.
    mutating func removeAll(keepingCapacityUpTo limit: Int) {
        if bytes.capacity > limit {
            bytes = []
            bytes.reserveCapacity(64 * 1024)
        } else {
            bytes.removeAll(keepingCapacity: true)
        }
    }

    /// Appends the method, content header and body frames of `message`, its strings and
    /// properties converted in `arena`: all of them, or, when it throws, none.
    mutating func appendPublish(_ message: OutboundMessage, mandatory: Bool, arena: CArena) throws(AMQPError) {
        var properties = arena.properties(message.properties)
        let start = bytes.count
        // `withUnsafeBytes` rethrows untyped: the typed error comes out as a Result.
        let appended = message.body.withUnsafeBytes { body in
            Result { () throws(AMQPError) in
                try appendFrames(
                    exchange: arena.bytes(message.exchange), routingKey: arena.bytes(message.routingKey), mandatory: mandatory,
                    properties: &properties, body: body)
            }
        }
        if case .failure = appended { bytes.removeSubrange(start...) }
        try appended.get()
    }

    private mutating func appendFrames(
        exchange: amqp_bytes_t, routingKey: amqp_bytes_t, mandatory: Bool, properties: inout amqp_basic_properties_t,
        body: UnsafeRawBufferPointer
    ) throws(AMQPError) {
        // Built only for an error: this runs for every message.
        func destination() -> String {
            "exchange '\(String(amqpBytes: exchange))' with routing key '\(String(amqpBytes: routingKey))'"
        }
        var method = amqp_basic_publish_t(
            ticket: 0, exchange: exchange, routing_key: routingKey, mandatory: mandatory ? 1 : 0, immediate: 0)
        // Method frame: method id, then the arguments.
        let methodLength = try encodeInScratch(after: 4, "basic.publish to \(destination())") {
            amqp_encode_method(AMQP_BASIC_PUBLISH_METHOD, &method, $0)
        }
        appendFrameStart(type: AMQP_FRAME_METHOD, payloadSize: 4 + methodLength)
        appendBigEndian(UInt32(AMQP_BASIC_PUBLISH_METHOD))
        appendScratch(methodLength)

        // Content header frame: class, weight (always 0), body size, then the properties.
        let propertiesLength = try encodeInScratch(after: 12, "the properties of a message to \(destination())") {
            amqp_encode_properties(UInt16(AMQP_BASIC_CLASS), &properties, $0)
        }
        appendFrameStart(type: AMQP_FRAME_HEADER, payloadSize: 12 + propertiesLength)
        appendBigEndian(UInt16(AMQP_BASIC_CLASS))
        appendBigEndian(UInt16(0))
        appendBigEndian(UInt64(body.count))
        appendScratch(propertiesLength)

        let payloadLimit = frameMax - Self.frameOverhead
        var offset = 0
        while offset < body.count {
            let length = min(payloadLimit, body.count - offset)
            appendFrameStart(type: AMQP_FRAME_BODY, payloadSize: length)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: body[offset..<offset + length]))
            bytes.append(UInt8(AMQP_FRAME_END))
            offset += length
        }
    }

    /// Runs one of rabbitmq-c's encoders into `scratch`, with room for what fits in one frame's
    /// payload after `prefix` bytes; the length it encoded.
    private mutating func encodeInScratch(
        after prefix: Int, _ what: @autoclosure () -> String, _ encode: (amqp_bytes_t) -> Int32
    ) throws(AMQPError) -> Int {
        let room = frameMax - Self.frameOverhead - prefix
        let length = scratch.withUnsafeMutableBytes { encode(amqp_bytes_t(len: room, bytes: $0.baseAddress)) }
        guard length >= 0 else {
            throw AMQPError(
                .unpublishable,
                "cannot encode \(what()) in one \(frameMax)-byte frame: \(String(cString: amqp_error_string2(length))); "
                    + "keep its headers and properties well under \(frameMax / 1024) KiB")
        }
        return Int(length)
    }

    /// The first `length` bytes of `scratch` as the rest of the frame's payload, and the frame end.
    private mutating func appendScratch(_ length: Int) {
        bytes.append(contentsOf: scratch[..<length])
        bytes.append(UInt8(AMQP_FRAME_END))
    }

    private mutating func appendFrameStart(type: Int32, payloadSize: Int) {
        bytes.append(UInt8(type))
        appendBigEndian(channel)
        appendBigEndian(UInt32(payloadSize))
    }

    private mutating func appendBigEndian<Value: FixedWidthInteger>(_ value: Value) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
