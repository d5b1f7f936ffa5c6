import AMQP
import CRabbitMQ
import Foundation
import RawAMQP

/// The floor: the relay written straight against rabbitmq-c, one thread, a consuming and a
/// publishing connection (as the adapter has), confirms awaited per batch, the source acked
/// with `multiple` once its batch is confirmed.
struct RawRelay {
    let configuration: AMQPConfiguration

    /// Relays `count` messages from `source` to `sink`, or through the exchange and routing key
    /// `via` names.
    func run(
        source: String, sink: String, via topic: (exchange: String, routingKey: String)? = nil, count: Int, prefetch: UInt16,
        batchSize: Int
    ) throws -> Int {
        let consuming = try RawConnection(configuration, name: "raw relay consumer")
        defer { consuming.close() }
        let publishing = try RawConnection(configuration, name: "raw relay publisher")
        defer { publishing.close() }
        amqp_basic_qos(consuming.state, 1, 0, prefetch, 0)
        try consuming.check("basic.qos")
        source.withCString { queue in
            _ = amqp_basic_consume(
                consuming.state, 1, amqp_cstring_bytes(queue), escalator_amqp_empty_bytes(), 0, 0, 0, escalator_amqp_empty_table())
        }
        try consuming.check("basic.consume")
        amqp_confirm_select(publishing.state, 1)
        try publishing.check("confirm.select")

        var relayed = 0
        var nextSequence: UInt64 = 1
        var envelopes: [amqp_envelope_t] = []
        envelopes.reserveCapacity(batchSize)
        let exchange = amqp_bytes_malloc_dup((topic?.exchange ?? "").withCString { amqp_cstring_bytes($0) })
        let routingKey = amqp_bytes_malloc_dup((topic?.routingKey ?? sink).withCString { amqp_cstring_bytes($0) })
        defer {
            amqp_bytes_free(exchange)
            amqp_bytes_free(routingKey)
        }

        while relayed < count {
            // Take what has arrived, up to a batch: block for the first message only.
            envelopes.removeAll(keepingCapacity: true)
            var wait = timeval(tv_sec: 5, tv_usec: 0)
            repeat {
                var envelope = amqp_envelope_t()
                let reply = amqp_consume_message(consuming.state, &envelope, &wait, 0)
                guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
                    throw BenchmarkError("raw consume failed (\(reply.reply_type.rawValue), \(reply.library_error))")
                }
                envelopes.append(envelope)
                // The rest of a message already begun is on its way: a short wait is safe.
                wait = timeval(tv_sec: 0, tv_usec: 200_000)
            } while envelopes.count < batchSize && relayed + envelopes.count < count
                && (amqp_data_in_buffer(consuming.state) != 0 || amqp_frames_enqueued(consuming.state) != 0)

            for index in envelopes.indices {
                let status = amqp_basic_publish(
                    publishing.state, 1, exchange, routingKey, 1, 0, &envelopes[index].message.properties,
                    envelopes[index].message.body)
                guard status == AMQP_STATUS_OK.rawValue else { throw BenchmarkError("raw publish failed (\(status))") }
            }
            let lastSequence = nextSequence + UInt64(envelopes.count) - 1
            nextSequence = lastSequence + 1
            try awaitConfirms(through: lastSequence, on: publishing)

            let lastTag = envelopes.last!.delivery_tag
            guard amqp_basic_ack(consuming.state, 1, lastTag, 1) == AMQP_STATUS_OK.rawValue else {
                throw BenchmarkError("raw ack failed")
            }
            relayed += envelopes.count
            for index in envelopes.indices { amqp_destroy_envelope(&envelopes[index]) }
            amqp_maybe_release_buffers(consuming.state)
            amqp_maybe_release_buffers(publishing.state)
        }
        return relayed
    }

    private func awaitConfirms(through lastSequence: UInt64, on connection: RawConnection) throws {
        var confirmedThrough: UInt64 = 0
        while confirmedThrough < lastSequence {
            var frame = amqp_frame_t()
            var wait = timeval(tv_sec: 10, tv_usec: 0)
            let status = amqp_simple_wait_frame_noblock(connection.state, &frame, &wait)
            guard status == AMQP_STATUS_OK.rawValue else { throw BenchmarkError("raw confirm wait failed (\(status))") }
            guard Int32(frame.frame_type) == AMQP_FRAME_METHOD else { continue }
            switch frame.payload.method.id {
            case AMQP_BASIC_ACK_METHOD:
                let ack = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                // Acks arrive in order on one channel; `multiple` covers everything before.
                confirmedThrough = max(confirmedThrough, ack.delivery_tag)
            case AMQP_BASIC_NACK_METHOD:
                throw BenchmarkError("raw relay: the broker nacked a message")
            default:
                continue
            }
        }
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
