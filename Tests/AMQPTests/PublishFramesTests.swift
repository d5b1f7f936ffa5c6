import CRabbitMQ
import Testing

@testable import AMQP

/// The publisher writes its own frames around what rabbitmq-c encodes; these read them back the
/// way a broker does (AMQP 0-9-1 §4.2.3), decoding the method and properties with rabbitmq-c.
@Suite("Publish frames")
struct PublishFramesTests {
    struct Frame {
        var type: Int32
        var channel: UInt16
        var payload: [UInt8]
    }

    /// Splits `bytes` into frames, checking each one's size and frame-end octet.
    static func frames(in bytes: [UInt8]) throws -> [Frame] {
        var frames: [Frame] = []
        var offset = 0
        while offset < bytes.count {
            try #require(bytes.count - offset >= 8, "a partial frame header at byte \(offset)")
            let size = bytes[offset + 3..<offset + 7].reduce(0) { $0 << 8 | Int($1) }
            let end = offset + 7 + size
            try #require(end < bytes.count, "frame at byte \(offset) runs past the end")
            #expect(bytes[end] == UInt8(AMQP_FRAME_END), "frame at byte \(offset) lacks its frame-end octet")
            frames.append(
                Frame(
                    type: Int32(bytes[offset]), channel: UInt16(bytes[offset + 1]) << 8 | UInt16(bytes[offset + 2]),
                    payload: Array(bytes[offset + 7..<end])))
            offset = end + 1
        }
        return frames
    }

    static func encode(
        _ messages: [OutboundMessage], frameMax: Int = 131_072, mandatory: Bool = true
    ) throws(AMQPError) -> [UInt8] {
        var frames = PublishFrames(channel: 1, frameMax: frameMax)
        let arena = CArena()
        for message in messages {
            try frames.appendPublish(message, mandatory: mandatory, arena: arena)
        }
        return frames.bytes
    }

    /// What the broker reads from a method frame and a content-header frame.
    struct Publish {
        var exchange: String
        var routingKey: String
        var mandatory: Bool
        var bodySize: UInt64
        var properties: MessageProperties
    }

    static func decode(method: Frame, header: Frame) throws -> Publish {
        var pool = amqp_pool_t()
        init_amqp_pool(&pool, 4096)
        defer { empty_amqp_pool(&pool) }
        try #require(method.type == AMQP_FRAME_METHOD && header.type == AMQP_FRAME_HEADER)
        let id = method.payload.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        #expect(id == AMQP_BASIC_PUBLISH_METHOD)
        var decodedMethod: UnsafeMutableRawPointer?
        var methodBytes = Array(method.payload.dropFirst(4))
        let methodStatus = methodBytes.withUnsafeMutableBytes {
            amqp_decode_method(id, &pool, amqp_bytes_t(len: $0.count, bytes: $0.baseAddress), &decodedMethod)
        }
        try #require(methodStatus == 0)
        let publish = decodedMethod!.assumingMemoryBound(to: amqp_basic_publish_t.self).pointee

        let classID = UInt16(header.payload[0]) << 8 | UInt16(header.payload[1])
        #expect(classID == UInt16(AMQP_BASIC_CLASS))
        #expect(header.payload[2..<4] == [0, 0], "the content header's weight is always 0")
        let bodySize = header.payload[4..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        var decodedProperties: UnsafeMutableRawPointer?
        var propertyBytes = Array(header.payload.dropFirst(12))
        let propertiesStatus = propertyBytes.withUnsafeMutableBytes {
            amqp_decode_properties(classID, &pool, amqp_bytes_t(len: $0.count, bytes: $0.baseAddress), &decodedProperties)
        }
        try #require(propertiesStatus == 0)
        return Publish(
            exchange: String(amqpBytes: publish.exchange), routingKey: String(amqpBytes: publish.routing_key),
            mandatory: publish.mandatory != 0, bodySize: bodySize,
            properties: MessageProperties(
                amqpProperties: decodedProperties!.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee))
    }

    static let properties = MessageProperties(
        contentType: "application/json",
        headers: ["x-escalator-error": "no such page", "x-attempt": 3, "x-nested": .table(["site": "depot-7"])],
        persistent: true, correlationID: "page-42", replyTo: "escalator.replies", messageID: "message-7",
        timestamp: 1_790_000_000, type: "page.v1", appID: "escalator")

    @Test("a publish reads back as the message: exchange, routing key, mandatory, properties, body")
    func publishReadsBack() throws {
        let body = Array(#"{"schema":"page.v1","page_id":"page-42"}"#.utf8)
        let frames = try Self.frames(in: Self.encode([
            OutboundMessage(exchange: "escalator.pages", routingKey: "page.sms.operations", body: body, properties: Self.properties)
        ]))
        #expect(frames.map(\.type) == [AMQP_FRAME_METHOD, AMQP_FRAME_HEADER, AMQP_FRAME_BODY])
        #expect(frames.allSatisfy { $0.channel == 1 })
        let publish = try Self.decode(method: frames[0], header: frames[1])
        #expect(publish.exchange == "escalator.pages")
        #expect(publish.routingKey == "page.sms.operations")
        #expect(publish.mandatory)
        #expect(publish.bodySize == UInt64(body.count))
        #expect(publish.properties == Self.properties)
        #expect(frames[2].payload == body)
    }

    @Test("a body larger than a frame is split into frames no larger than the connection allows")
    func largeBodySpansFrames() throws {
        let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let frames = try Self.frames(in: Self.encode(
            [OutboundMessage(exchange: "escalator.notices", routingKey: "notice.en", body: body)], frameMax: 131_072))
        #expect(frames.map(\.type) == [AMQP_FRAME_METHOD, AMQP_FRAME_HEADER] + Array(repeating: AMQP_FRAME_BODY, count: 3))
        #expect(frames.map { $0.payload.count + 8 }.allSatisfy { $0 <= 131_072 })
        #expect(try Self.decode(method: frames[0], header: frames[1]).bodySize == 300_000)
        #expect(Array(frames.dropFirst(2).map(\.payload).joined()) == body)
    }

    @Test("a body that fills its frames exactly has no empty frame after them")
    func bodyFillingFramesExactly() throws {
        let body = [UInt8](repeating: 7, count: 2 * (4096 - 8))
        let frames = try Self.frames(in: Self.encode(
            [OutboundMessage(exchange: "escalator.notices", routingKey: "notice.en", body: body)], frameMax: 4096))
        #expect(frames.map(\.type) == [AMQP_FRAME_METHOD, AMQP_FRAME_HEADER, AMQP_FRAME_BODY, AMQP_FRAME_BODY])
        #expect(frames.dropFirst(2).map(\.payload.count) == [4088, 4088])
    }

    @Test("an empty body has no body frame, and publishes follow one another in order")
    func emptyBodyAndOrder() throws {
        let frames = try Self.frames(in: Self.encode([
            OutboundMessage(exchange: "escalator.status", routingKey: "status.first", body: []),
            OutboundMessage(exchange: "escalator.status", routingKey: "status.second", body: Array("{}".utf8)),
        ]))
        #expect(
            frames.map(\.type) == [AMQP_FRAME_METHOD, AMQP_FRAME_HEADER, AMQP_FRAME_METHOD, AMQP_FRAME_HEADER, AMQP_FRAME_BODY])
        #expect(try Self.decode(method: frames[0], header: frames[1]).routingKey == "status.first")
        #expect(try Self.decode(method: frames[0], header: frames[1]).bodySize == 0)
        #expect(try Self.decode(method: frames[2], header: frames[3]).routingKey == "status.second")
    }

    @Test("properties too large for one frame are refused with the exchange named, and leave no partial frame behind")
    func oversizedPropertiesAreRefused() throws {
        var frames = PublishFrames(channel: 1, frameMax: 4096)
        let arena = CArena()
        try frames.appendPublish(
            OutboundMessage(exchange: "escalator.status", routingKey: "status", body: Array("{}".utf8)), mandatory: true,
            arena: arena)
        let before = frames.bytes
        let huge = MessageProperties(headers: ["x-huge": .string(String(repeating: "x", count: 5000))])
        #expect {
            try frames.appendPublish(
                OutboundMessage(exchange: "escalator.pages", routingKey: "page", body: [], properties: huge), mandatory: true,
                arena: arena)
        } throws: { error in
            let error = error as? AMQPError
            return error?.code == .unpublishable && error?.isTransient == false
                && error?.message.contains("escalator.pages") == true
        }
        #expect(frames.bytes == before)
    }
}
