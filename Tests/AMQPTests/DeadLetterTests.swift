import AMQP
import Synchronization
import Testing

extension BrokerTests {
    @Suite("Dead-lettering")
    struct DeadLetterTests {
        @Test("a dead-lettered message arrives in the dead-letter queue with its reason header")
        func deadLetterCarriesReason() async throws {
            let names = EscalatorNames.prefixed(TestBroker.uniquePrefix("dead"))
            let topology = Topology.escalator(names)
            let publisher = AMQPPublisher(configuration: try TestBroker.configuration("dead publisher"), topology: topology, logger: TestBroker.logger)
            let consumer = AMQPConsumer(
                configuration: try TestBroker.configuration("dead consumer"), topology: topology, queue: names.incidentsQueue,
                deadLettering: .init(publisher: publisher, exchange: names.deadLetterExchange), logger: TestBroker.logger)
            let deadConsumer = AMQPConsumer(
                configuration: try TestBroker.configuration("dead-letter reader"), topology: topology, queue: names.deadLetterQueue,
                logger: TestBroker.logger)

            #expect(try await publisher.publish(message(names.incidentsExchange, "incident.fire", "not json", id: "bad-1")) == .confirmed)
            let delivery = try await withTimeout(10, "the bad message") { try await consumer.nextBatch(maximumCount: 1)?.first }
            let bad = try #require(delivery)
            try await consumer.deadLetter(bad, reason: "not JSON: unexpected character 'n' at offset 0")

            let dead = try await withTimeout(10, "the dead letter") { try await deadConsumer.nextBatch(maximumCount: 1)?.first }
            let deadLetter = try #require(dead)
            #expect(deadLetter.properties.messageID == "bad-1")
            #expect(deadLetter.body == Array("not json".utf8))
            #expect(deadLetter.properties.headers["x-escalator-error"] == .string("not JSON: unexpected character 'n' at offset 0"))
            #expect(deadLetter.properties.headers["x-escalator-original-queue"] == .string(names.incidentsQueue))
            deadConsumer.ack(deadLetter)

            // The original was acknowledged: nothing is redelivered from the incidents queue.
            await consumer.close()
            let listed = try TestBroker.rabbitmqctl("list_queues", "name", "messages")
            #expect(listed.contains("\(names.incidentsQueue)\t0"))
            await deadConsumer.close()
            await publisher.close()
        }

        @Test("a nack without requeue dead-letters through the broker with x-death")
        func nackDeadLetters() async throws {
            let names = EscalatorNames.prefixed(TestBroker.uniquePrefix("nack"))
            let topology = Topology.escalator(names)
            let publisher = AMQPPublisher(configuration: try TestBroker.configuration("nack publisher"), topology: topology, logger: TestBroker.logger)
            let consumer = AMQPConsumer(
                configuration: try TestBroker.configuration("nack consumer"), topology: topology, queue: names.incidentsQueue,
                logger: TestBroker.logger)
            let deadConsumer = AMQPConsumer(
                configuration: try TestBroker.configuration("nack dead reader"), topology: topology, queue: names.deadLetterQueue,
                logger: TestBroker.logger)
            #expect(try await publisher.publish(message(names.incidentsExchange, "incident.flood", "{}", id: "nack-1")) == .confirmed)
            let delivery = try #require(try await withTimeout(10, "the message") { try await consumer.nextBatch(maximumCount: 1)?.first })
            consumer.nack(delivery)
            let dead = try #require(try await withTimeout(10, "the dead letter") { try await deadConsumer.nextBatch(maximumCount: 1)?.first })
            #expect(dead.properties.messageID == "nack-1")
            guard case .array(let deaths) = dead.properties.headers["x-death"], case .table(let death) = deaths.first else {
                Issue.record("no x-death header: \(dead.properties.headers)")
                return
            }
            #expect(death["reason"]?.stringValue == "rejected")
            deadConsumer.ack(dead)
            await consumer.close()
            await deadConsumer.close()
            await publisher.close()
        }

        @Test("a message redelivered past the delivery limit is dead-lettered, not looped")
        func deliveryLimitDeadLetters() async throws {
            let names = EscalatorNames.prefixed(TestBroker.uniquePrefix("limit"))
            let topology = Topology.escalator(names, deliveryLimit: 2)
            let publisher = AMQPPublisher(configuration: try TestBroker.configuration("limit publisher"), topology: topology, logger: TestBroker.logger)
            let consumer = AMQPConsumer(
                configuration: try TestBroker.configuration("limit consumer"), topology: topology, queue: names.incidentsQueue,
                logger: TestBroker.logger)
            let deadConsumer = AMQPConsumer(
                configuration: try TestBroker.configuration("limit dead reader"), topology: topology, queue: names.deadLetterQueue,
                logger: TestBroker.logger)
            #expect(try await publisher.publish(message(names.incidentsExchange, "incident.poison", "{}", id: "poison-1")) == .confirmed)

            // A worker that crashes on this message: it is requeued again and again.
            let deliveries = Counter()
            let crashingWorker = Task {
                for try await delivery in consumer {
                    deliveries.increment()
                    consumer.nack(delivery, requeue: true)
                }
            }
            defer { crashingWorker.cancel() }
            let dead = try #require(try await withTimeout(10, "the dead letter") { try await deadConsumer.nextBatch(maximumCount: 1)?.first })
            #expect(dead.properties.messageID == "poison-1")
            guard case .array(let deaths) = dead.properties.headers["x-death"], case .table(let death) = deaths.first else {
                Issue.record("no x-death header: \(dead.properties.headers)")
                return
            }
            #expect(death["reason"]?.stringValue == "delivery_limit")
            #expect(deliveries.value <= 3)
            deadConsumer.ack(dead)
            await consumer.close()
            await deadConsumer.close()
            await publisher.close()
        }
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
