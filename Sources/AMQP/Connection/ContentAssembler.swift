import CRabbitMQ
import Foundation

/// Puts a message back together from its frames (method, header, bodies), copying it out of
/// rabbitmq-c's buffers as it goes. Frames are read one at a time without blocking, so a
/// message may arrive across several turns of the connection loop.
struct ContentAssembler<Method> {
    private var method: Method?
    private var properties = MessageProperties()
    private var expectedSize = 0
    private var body: [UInt8] = []
    private var headerSeen = false

    mutating func begin(_ method: Method) {
        self.method = method
        properties = MessageProperties()
        expectedSize = 0
        body = []
        headerSeen = false
    }

    /// Feeds a header or body frame; returns the message once its last byte is in.
    mutating func add(_ frame: amqp_frame_t) throws(AMQPError) -> (Method, MessageProperties, [UInt8])? {
        guard method != nil else {
            throw AMQPError(.protocolError, "content frame without a basic.deliver or basic.return before it")
        }
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_HEADER:
            headerSeen = true
            expectedSize = Int(frame.payload.properties.body_size)
            if let decoded = frame.payload.properties.decoded {
                properties = MessageProperties(amqpProperties: decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
            }
            body.reserveCapacity(expectedSize)
        case AMQP_FRAME_BODY:
            guard headerSeen else { throw AMQPError(.protocolError, "body frame before the content header") }
            let fragment = frame.payload.body_fragment
            if fragment.len > 0, let start = fragment.bytes {
                body.append(contentsOf: UnsafeRawBufferPointer(start: start, count: fragment.len))
            }
        default:
            throw AMQPError(.protocolError, "unexpected frame type \(frame.frame_type) inside a message")
        }
        guard headerSeen, body.count >= expectedSize, let method else { return nil }
        self.method = nil
        return (method, properties, body)
    }
}
