import CRabbitMQ
import Logging
import Synchronization

/// An acknowledgement waiting for the consumer thread.
struct Acknowledgement: Sendable {
    enum Kind: Sendable {
        case ack(multiple: Bool)
        case nack(multiple: Bool, requeue: Bool)
    }

    let deliveryTag: UInt64
    let generation: UInt64
    let kind: Kind
}

/// The consumer thread's side: sets the prefetch, consumes, assembles deliveries, sends acks.
final class ConsumerRole: ConnectionRole, @unchecked Sendable {
    let threadName = "amqp-consume"

    // @unchecked: `acknowledgements` is behind a Mutex; everything else is touched only by the
    // consumer's connection thread (`wake` is set once before the thread starts).
    private struct DeliverMethod {
        let exchange: String
        let routingKey: String
        let deliveryTag: UInt64
        let redelivered: Bool
    }

    private let queue: String
    private let prefetch: UInt16
    private let buffer: DeliveryBuffer
    private let logger: Logger
    private let acknowledgements = Mutex<[Acknowledgement]>([])
    nonisolated(unsafe) var wake: WakeSignal?

    private var generation: UInt64 = 0
    private var assembler = ContentAssembler<DeliverMethod>()
    private var received: [Delivery] = []
    private var batcher = AcknowledgementBatcher()

    init(queue: String, prefetch: UInt16, buffer: DeliveryBuffer, logger: Logger) {
        self.queue = queue
        self.prefetch = prefetch
        self.buffer = buffer
        self.logger = logger
    }

    func enqueue(_ acknowledgement: Acknowledgement) {
        acknowledgements.withLock { $0.append(acknowledgement) }
        wake?.signal()
    }

    func sessionStarted(_ connection: ConnectionHandle, generation: UInt64) throws(AMQPError) {
        self.generation = generation
        assembler = ContentAssembler()
        batcher.reset()
        amqp_basic_qos(connection.state, ConnectionHandle.channel, 0, prefetch, 0)
        try connection.check(amqp_get_rpc_reply(connection.state), doing: "setting the prefetch to \(prefetch)")
        let arena = CArena()
        let consumerTag = "escalator.\(queue).\(generation)"
        amqp_basic_consume(
            connection.state, ConnectionHandle.channel, arena.bytes(queue), arena.bytes(consumerTag), 0, 0, 0,
            escalator_amqp_empty_table())
        try connection.check(amqp_get_rpc_reply(connection.state), doing: "consuming from queue '\(queue)'")
    }

    func performPendingWork(_ connection: ConnectionHandle) throws(AMQPError) -> Bool {
        let pending = acknowledgements.withLock { acknowledgements in
            defer { acknowledgements.removeAll(keepingCapacity: true) }
            return acknowledgements
        }
        guard !pending.isEmpty else { return false }
        // Acks of a lost session are dropped: their tags died with it, the broker redelivers.
        let frames = batcher.frames(for: pending.filter { $0.generation == generation })
        for frame in frames {
            let status: Int32
            switch frame {
            case .ack(let deliveryTag, let multiple):
                status = amqp_basic_ack(connection.state, ConnectionHandle.channel, deliveryTag, multiple ? 1 : 0)
            case .nack(let deliveryTag, let multiple, let requeue):
                status = amqp_basic_nack(connection.state, ConnectionHandle.channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0)
            }
            if status != AMQP_STATUS_OK.rawValue {
                throw connection.libraryError(status, doing: "acknowledging a delivery from '\(queue)'")
            }
        }
        return false
    }

    func frameReceived(_ frame: amqp_frame_t, connection: ConnectionHandle) throws(AMQPError) {
        guard Int32(frame.frame_type) == AMQP_FRAME_METHOD else {
            if let (method, properties, body) = try assembler.add(frame) {
                batcher.received(method.deliveryTag)
                received.append(
                    Delivery(
                        exchange: method.exchange, routingKey: method.routingKey, body: body, properties: properties,
                        redelivered: method.redelivered, deliveryTag: method.deliveryTag, sessionGeneration: generation))
            }
            return
        }
        let method = frame.payload.method
        switch method.id {
        case AMQP_BASIC_DELIVER_METHOD:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            assembler.begin(
                DeliverMethod(
                    exchange: String(amqpBytes: deliver.exchange), routingKey: String(amqpBytes: deliver.routing_key),
                    deliveryTag: deliver.delivery_tag, redelivered: deliver.redelivered != 0))
        case AMQP_BASIC_CANCEL_METHOD:
            throw AMQPError(
                .consumerCancelled,
                "the broker cancelled the consumer of queue '\(queue)' (deleted, or its node went down)")
        case AMQP_CHANNEL_CLOSE_METHOD, AMQP_CONNECTION_CLOSE_METHOD:
            throw connection.closeReceived(method, doing: "consuming from queue '\(queue)'")!
        default:
            logger.debug("ignoring AMQP method \(method.id) on the consuming connection")
        }
    }

    func turnFinished() {
        guard !received.isEmpty else { return }
        buffer.append(received)
        received.removeAll(keepingCapacity: true)
    }

    var isDrained: Bool { acknowledgements.withLock { $0.isEmpty } }

    func sessionLost(_ error: AMQPError) {
        // Deliveries already handed out stay valid to process; their acks will be dropped and
        // the broker redelivers them. Half-assembled ones are simply gone.
        turnFinished()
        assembler = ContentAssembler()
    }

    func finished(_ error: AMQPError?) {
        buffer.finish(error)
    }
}
