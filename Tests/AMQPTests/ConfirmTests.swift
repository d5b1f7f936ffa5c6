import AMQP
import Testing

extension BrokerTests {
    @Suite("Publisher confirms")
    struct ConfirmTests {
        @Test("ten thousand messages are confirmed in batches and all arrive")
        func tenThousandConfirmed() async throws {
            let (exchange, queue, topology) = singleQueueTopology(
                TestBroker.uniquePrefix("confirms"), arguments: ["x-queue-type": "quorum"])
            let publisher = AMQPPublisher(configuration: try TestBroker.configuration("confirms"), topology: topology, logger: TestBroker.logger)
            let messages = (0..<10_000).map { message(exchange, "incident.test", #"{"n":\#($0)}"#, id: "m-\($0)") }
            let outcomes = try await withTimeout(60, "10,000 confirms") {
                try await withThrowingTaskGroup(of: [PublishOutcome].self) { group in
                    // Ten callers publishing batches of 100 at once: confirms settle many per ack.
                    for caller in 0..<10 {
                        group.addTask {
                            var outcomes: [PublishOutcome] = []
                            for batch in stride(from: caller * 1000, to: (caller + 1) * 1000, by: 100) {
                                outcomes += try await publisher.publish(Array(messages[batch..<(batch + 100)]))
                            }
                            return outcomes
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
            }
            #expect(outcomes.count == 10_000)
            #expect(outcomes.allSatisfy { $0 == .confirmed })
            let consumer = AMQPConsumer(
                configuration: try TestBroker.configuration("confirms reader"), queue: queue, prefetch: 500, logger: TestBroker.logger)
            let received = Set(
                try await receiveMessageIDs(from: consumer, within: 60, "10,000 deliveries") { Set($0).count >= 10_000 })
            #expect(received == Set(messages.compactMap(\.properties.messageID)))
            await consumer.close()
            await publisher.close()
        }

        @Test("an unroutable mandatory message is reported returned, the others in its batch confirmed")
        func unroutableIsReturned() async throws {
            let (exchange, _, topology) = singleQueueTopology(TestBroker.uniquePrefix("returned"), routingKey: "routed")
            let publisher = AMQPPublisher(configuration: try TestBroker.configuration("returns"), topology: topology, logger: TestBroker.logger)
            let outcomes = try await publisher.publish([
                message(exchange, "routed", "{}", id: "a"),
                message(exchange, "nowhere", "{}", id: "b"),
                message(exchange, "routed", "{}", id: "c"),
                // Same id, other routing key: the return must be matched to the right one.
                message(exchange, "routed", "{}", id: "d"),
                message(exchange, "nowhere", "{}", id: "d"),
            ])
            #expect(
                outcomes == [
                    .confirmed, .returned(replyCode: 312, replyText: "NO_ROUTE"), .confirmed,
                    .confirmed, .returned(replyCode: 312, replyText: "NO_ROUTE"),
                ])
            await publisher.close()
        }

        @Test("a message refused by a full reject-publish queue is reported nacked")
        func fullQueueNacks() async throws {
            let (exchange, _, topology) = singleQueueTopology(
                TestBroker.uniquePrefix("nacked"), arguments: ["x-max-length": 2, "x-overflow": "reject-publish"])
            let publisher = AMQPPublisher(configuration: try TestBroker.configuration("nacks"), topology: topology, logger: TestBroker.logger)
            let outcomes = try await publisher.publish((0..<4).map { message(exchange, "k", "{}", id: "n-\($0)") })
            #expect(outcomes == [.confirmed, .confirmed, .nacked, .nacked])
            await publisher.close()
        }

        @Test("a message to a missing exchange is reported, and the publisher goes on")
        func missingExchangeIsReported() async throws {
            let prefix = TestBroker.uniquePrefix("missing")
            let publisher = AMQPPublisher(configuration: try TestBroker.configuration("missing exchange"), logger: TestBroker.logger)
            let outcome = try await withTimeout(20, "the outcome") {
                try await publisher.publish(message(prefix + "nonexistent", "k", "{}"))
            }
            guard case .returned(let code, let text) = outcome else {
                Issue.record("expected a 404 return, got \(outcome)")
                return
            }
            #expect(code == 404)
            #expect(text.contains(prefix + "nonexistent"))
            let next = try await withTimeout(20, "the next publish") {
                try await publisher.publish(message("amq.topic", "k", "{}"))
            }
            #expect(next == .returned(replyCode: 312, replyText: "NO_ROUTE"))
            await publisher.close()
        }
    }
}
