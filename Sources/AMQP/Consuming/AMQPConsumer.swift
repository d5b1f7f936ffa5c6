import Foundation
import Logging
import Synchronization

/// Consumes one queue with manual acknowledgements on a connection and thread of its own, and
/// hands deliveries to Swift concurrency as an `AsyncSequence` (one reader at a time).
///
/// After a connection loss it reconnects, declares the topology again and consumes again; the
/// broker redelivers what was not acknowledged (`redelivered == true`). Acks for deliveries of
/// a lost connection are dropped, since their tags died with it.
public final class AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = Delivery

    /// Where `deadLetter(_:reason:)` sends a copy of a refused message, with the reason.
    public struct DeadLettering: Sendable {
        public var publisher: any AMQPPublishing
        public var exchange: String
        /// DESIGN.md: the reason travels in header `x-escalator-error`.
        public var reasonHeader: String

        public init(publisher: any AMQPPublishing, exchange: String, reasonHeader: String = "x-escalator-error") {
            self.publisher = publisher
            self.exchange = exchange
            self.reasonHeader = reasonHeader
        }
    }

    private let connection: RecoveringConnection
    private let role: ConsumerRole
    private let buffer: DeliveryBuffer
    private let deadLettering: DeadLettering?
    public let queue: String

    /// Starts connecting and consuming `queue` at once, with at most `prefetch` deliveries
    /// unacknowledged.
    public init(
        configuration: AMQPConfiguration,
        topology: Topology? = nil,
        queue: String,
        prefetch: UInt16 = 100,
        deadLettering: DeadLettering? = nil,
        logger: Logger
    ) {
        let buffer = DeliveryBuffer()
        self.buffer = buffer
        self.queue = queue
        self.deadLettering = deadLettering
        var logger = logger
        logger[metadataKey: "amqp.queue"] = "\(queue)"
        let role = ConsumerRole(queue: queue, prefetch: prefetch, buffer: buffer, logger: logger)
        self.role = role
        connection = RecoveringConnection(configuration: configuration, topology: topology, role: role, logger: logger)
        role.wake = connection.wake
        connection.start()
    }

    deinit {
        connection.requestClose()
    }

    public var state: ConnectionState { connection.state }

    /// How many times this consumer's connection was established: each one after the first is a
    /// recovery, however briefly the connection was down (`state` may never show it).
    public var sessionsStarted: Int { connection.sessionsStarted }

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let buffer: DeliveryBuffer
        private var pending: [Delivery] = []
        private var pendingIndex = 0

        fileprivate init(buffer: DeliveryBuffer) { self.buffer = buffer }

        public mutating func next() async throws -> Delivery? {
            if pendingIndex < pending.count {
                defer { pendingIndex += 1 }
                return pending[pendingIndex]
            }
            guard let batch = try await buffer.next(maximumCount: 256) else { return nil }
            pending = batch
            pendingIndex = 1
            return batch.first
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }

    /// The deliveries already waiting, up to `maximumCount`, or the next one to arrive; nil when
    /// the consumer has ended. For loops that settle work in batches.
    public func nextBatch(maximumCount: Int) async throws -> [Delivery]? {
        try await buffer.next(maximumCount: maximumCount)
    }

    /// Up to `maximumCount` deliveries already received, without waiting: lets a loop that
    /// lingers a moment add what arrived meanwhile to its batch.
    public func availableDeliveries(maximumCount: Int) -> [Delivery] {
        buffer.available(maximumCount: maximumCount)
    }

    /// Acknowledges `delivery`, and with `multiple` every earlier one of this connection.
    public func ack(_ delivery: Delivery, multiple: Bool = false) {
        role.enqueue(.init(deliveryTag: delivery.deliveryTag, generation: delivery.sessionGeneration, kind: .ack(multiple: multiple)))
    }

    /// Negative acknowledgement. `requeue: false` (the default) hands the message to the queue's
    /// dead-letter exchange, which records only `x-death`; use `deadLetter(_:reason:)` to add a
    /// reason.
    public func nack(_ delivery: Delivery, multiple: Bool = false, requeue: Bool = false) {
        role.enqueue(
            .init(deliveryTag: delivery.deliveryTag, generation: delivery.sessionGeneration, kind: .nack(multiple: multiple, requeue: requeue)))
    }

    /// Dead-letters `delivery` with `reason` in the reason header: `basic.nack` cannot add
    /// headers, so a copy goes to the dead-letter exchange with a confirm, and only then is the
    /// original acknowledged. If the copy is not confirmed the original is left unacknowledged
    /// (and redelivered) and the error is thrown.
    public func deadLetter(_ delivery: Delivery, reason: String) async throws(AMQPError) {
        guard let deadLettering else {
            throw AMQPError(
                .invalidConfiguration,
                "consumer of '\(queue)' has no dead-lettering configured; pass DeadLettering to AMQPConsumer.init")
        }
        var properties = delivery.properties
        properties.headers[deadLettering.reasonHeader] = .string(reason)
        properties.headers["x-escalator-original-queue"] = .string(queue)
        properties.headers["x-escalator-original-exchange"] = .string(delivery.exchange)
        properties.headers["x-escalator-original-routing-key"] = .string(delivery.routingKey)
        let copy = OutboundMessage(
            exchange: deadLettering.exchange, routingKey: delivery.routingKey, body: delivery.body, properties: properties)
        let outcome = try await deadLettering.publisher.publish(copy)
        guard outcome == .confirmed else {
            throw AMQPError(
                .notFound,
                "dead-letter copy of message \(delivery.properties.messageID ?? "?") was not accepted by '\(deadLettering.exchange)' (\(outcome)); is the dead-letter queue bound?")
        }
        ack(delivery)
    }

    /// Stops consuming and closes the connection; unacknowledged deliveries go back to the queue.
    /// Acks queued before the call are written to the broker first. AMQP gives no answer to an
    /// ack, and RabbitMQ 3.10 may still drop a quorum queue's last acks when the channel closes
    /// (rabbitmq-server#10327): those messages are delivered again, which a consumer that records
    /// what it processed (the worker's inbox) must take as already done.
    public func close(timeout: Duration = .seconds(5)) async {
        await connection.close(timeout: timeout)
    }
}
