import AMQP
import Synchronization
import Testing

extension BrokerTests {
    @Suite("Dead-lettering")
    struct DeadLetterTests {
        @Test("a dead-lettered message arrives in the dead-letter queue with its reason header")
        func deadLetterCarriesReason() async throws {
            let rig = try EscalatorRig("dead", deadLettering: true)
            #expect(try await rig.publisher.publish(rig.incident("incident.fire", "not json", id: "bad-1")) == .confirmed)
            let bad = try await nextDelivery(of: rig.consumer, "the bad message")
            try await rig.consumer.deadLetter(bad, reason: "not JSON: unexpected character 'n' at offset 0")

            let deadLetter = try await nextDelivery(of: rig.deadLetters, "the dead letter")
            #expect(deadLetter.properties.messageID == "bad-1")
            #expect(deadLetter.body == Array("not json".utf8))
            #expect(deadLetter.properties.headers["x-escalator-error"] == .string("not JSON: unexpected character 'n' at offset 0"))
            #expect(deadLetter.properties.headers["x-escalator-original-queue"] == .string(rig.names.incidentsQueue))
            rig.deadLetters.ack(deadLetter)

            // The original was acknowledged: nothing is left in, or redelivered from, the incidents queue.
            await rig.consumer.close()
            let listed = try await TestBroker.rabbitmqctl("list_queues", "name", "messages")
            #expect(listed.contains("\(rig.names.incidentsQueue)\t0"))
            await rig.close()
        }

        @Test("a nack without requeue dead-letters through the broker with x-death")
        func nackDeadLetters() async throws {
            let rig = try EscalatorRig("nack")
            #expect(try await rig.publisher.publish(rig.incident("incident.flood", "{}", id: "nack-1")) == .confirmed)
            rig.consumer.nack(try await nextDelivery(of: rig.consumer, "the message"))
            let dead = try await nextDelivery(of: rig.deadLetters, "the dead letter")
            #expect(dead.properties.messageID == "nack-1")
            #expect(deathReason(dead) == "rejected")
            rig.deadLetters.ack(dead)
            await rig.close()
        }

        @Test("a message redelivered past the delivery limit is dead-lettered, not looped")
        func deliveryLimitDeadLetters() async throws {
            let rig = try EscalatorRig("limit", deliveryLimit: 2)
            #expect(try await rig.publisher.publish(rig.incident("incident.poison", "{}", id: "poison-1")) == .confirmed)

            // A worker that crashes on this message: it is requeued again and again.
            let deliveries = Counter()
            let crashingWorker = Task {
                for try await delivery in rig.consumer {
                    deliveries.increment()
                    rig.consumer.nack(delivery, requeue: true)
                }
            }
            defer { crashingWorker.cancel() }
            let dead = try await nextDelivery(of: rig.deadLetters, within: 20, "the dead letter")
            #expect(dead.properties.messageID == "poison-1")
            #expect(deathReason(dead) == "delivery_limit")
            #expect(deliveries.value <= 3)
            rig.deadLetters.ack(dead)
            await rig.close()
        }
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

@Suite("Dead-lettering without a broker")
struct DeadLetterFailureTests {
    /// Settles every message with one outcome, recording what it was given.
    final class FixedOutcomePublisher: AMQPPublishing {
        let outcome: PublishOutcome
        let published = Mutex<[OutboundMessage]>([])

        init(_ outcome: PublishOutcome) { self.outcome = outcome }

        func publish(_ messages: [OutboundMessage]) async throws(AMQPError) -> [PublishOutcome] {
            published.withLock { $0 += messages }
            return messages.map { _ in outcome }
        }
    }

    @Test("a dead-letter copy the broker does not confirm is an error, not a silent loss")
    func unconfirmedCopyThrows() async throws {
        let publisher = FixedOutcomePublisher(.nacked)
        let consumer = AMQPConsumer(
            configuration: try AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:1/%2F", connectionName: "no broker"),
            queue: "escalator.incidents", deadLettering: .init(publisher: publisher, exchange: "escalator.dead"),
            logger: TestBroker.logger)
        let delivery = Delivery(exchange: "incidents", routingKey: "incident.fire", body: Array("{".utf8))
        await #expect(throws: AMQPError.self) {
            try await consumer.deadLetter(delivery, reason: "not JSON")
        }
        let copy = try #require(publisher.published.withLock { $0.first })
        #expect(copy.exchange == "escalator.dead")
        #expect(copy.routingKey == "incident.fire")
        #expect(copy.properties.headers["x-escalator-error"] == .string("not JSON"))
        await consumer.close()
    }
}
