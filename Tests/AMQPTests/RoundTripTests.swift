import AMQP
import Logging
import Testing

extension BrokerTests {
    @Suite("Publishing and consuming")
    struct RoundTripTests {
        @Test("a published message is consumed with its properties intact")
        func roundTripKeepsProperties() async throws {
            let rig = try EscalatorRig("roundtrip")
            let (names, publisher, consumer) = (rig.names, rig.publisher, rig.consumer)
            let properties = MessageProperties(
                contentType: "application/json",
                headers: ["x-schema": "incident.v1", "x-attempt": 3, "x-drill": true, "x-nested": .table(["site": "depot-7"])],
                persistent: true,
                correlationID: "page-42",
                replyTo: names.repliesQueue,
                messageID: "event-1",
                timestamp: 1_790_000_000,
                type: "incident.v1",
                appID: "fleet-telematics")
            let body = Array(#"{"schema":"incident.v1","event_id":"event-1"}"#.utf8)
            let outcome = try await publisher.publish(
                OutboundMessage(exchange: names.incidentsExchange, routingKey: "incident.fire", body: body, properties: properties))
            #expect(outcome == .confirmed)

            let delivery = try await withTimeout(10, "the delivery") {
                var iterator = consumer.makeAsyncIterator()
                return try await iterator.next()
            }
            #expect(delivery?.body == body)
            #expect(delivery?.properties == properties)
            #expect(delivery?.routingKey == "incident.fire")
            #expect(delivery?.exchange == names.incidentsExchange)
            #expect(delivery?.redelivered == false)
            if let delivery { consumer.ack(delivery) }
            await rig.close()
            #expect(consumer.state.description == "closed")
            #expect(publisher.state.description == "closed")
        }

        @Test("messages published together arrive intact and in order, a body of several frames and an empty one among them")
        func messagesPublishedTogetherArriveIntact() async throws {
            let rig = try EscalatorRig("together")
            // 1 MiB, the contract's largest message: nine body frames at the 128 KiB the connection
            // negotiates; it ends the write it joins (a write stops growing past 1 MiB).
            let large = (0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let bodies: [[UInt8]] = (0..<300).map { index in
                switch index {
                case 100: large
                case 200: []
                default: Array(#"{"n":\#(index)}"#.utf8)
                }
            }
            let messages = bodies.enumerated().map { index, body in
                OutboundMessage(
                    exchange: rig.names.incidentsExchange, routingKey: "incident.fire", body: body,
                    properties: MessageProperties(headers: ["x-index": .int(Int64(index))], messageID: "m-\(index)"))
            }
            // A broker that cannot read the frames closes the connection; the publisher would retry forever.
            let outcomes = try await withTimeout(30, "the confirms") { [publisher = rig.publisher] in
                try await publisher.publish(messages)
            }
            #expect(outcomes.allSatisfy { $0.isConfirmed })
            var deliveries: [Delivery] = []
            while deliveries.count < messages.count {
                let batch = try await withTimeout(10, "the deliveries") { [consumer = rig.consumer] in
                    try await consumer.nextBatch(maximumCount: 512) ?? []
                }
                for delivery in batch { rig.consumer.ack(delivery) }
                deliveries += batch
            }
            #expect(deliveries.map { $0.properties.messageID } == messages.map { $0.properties.messageID })
            #expect(deliveries.map(\.body) == bodies)
            #expect(deliveries.map { $0.properties.headers["x-index"] } == messages.map { $0.properties.headers["x-index"] })
            await rig.close()
        }

        @Test("a message whose headers cannot fit in a frame fails alone, without a reconnect, and the others go")
        func unpublishableMessageFailsAlone() async throws {
            let rig = try EscalatorRig("unpublishable")
            let huge = OutboundMessage(
                exchange: rig.names.incidentsExchange, routingKey: "incident.fire", body: Array("{}".utf8),
                properties: MessageProperties(headers: ["x-huge": .string(String(repeating: "x", count: 200_000))], messageID: "huge"))
            // One publish, as the outbox relay sends a round: the huge message's outcome is its own.
            let receipt = rig.publisher.submit([huge, rig.incident("incident.fire", "{}", id: "after")])
            let outcomes = try await withTimeout(10, "the outcomes") { try await receipt.outcomes() }
            if case .unpublishable(let reason)? = outcomes.first {
                #expect(reason.contains("frame"))
            } else {
                Issue.record("expected the message to be unpublishable, got \(String(describing: outcomes.first))")
            }
            #expect(outcomes.dropFirst() == [.confirmed])
            #expect(rig.publisher.sessionsStarted == 1)
            let delivery = try await nextDelivery(of: rig.consumer, "the other message")
            #expect(delivery.properties.messageID == "after")
            rig.consumer.ack(delivery)
            await rig.close()
        }

        @Test("acks settle exactly the deliveries acknowledged, whatever their order, and one left alone comes back")
        func acksInAnyOrderSettleExactlyThoseDeliveries() async throws {
            let rig = try EscalatorRig("acks")
            let ids = (0..<40).map { "m-\($0)" }
            let outcomes = try await rig.publisher.publish(ids.map { rig.incident("incident.fire", "{}", id: $0) })
            #expect(outcomes.allSatisfy { $0.isConfirmed })
            var deliveries: [Delivery] = []
            while deliveries.count < ids.count {
                let batch = try await withTimeout(10, "the deliveries") { [consumer = rig.consumer] in
                    try await consumer.nextBatch(maximumCount: 64) ?? []
                }
                deliveries += batch
            }
            // Acked in a scrambled order over several turns of the connection thread, one left alone.
            let left = "m-17"
            let acked = deliveries.filter { $0.properties.messageID != left }.shuffled()
            for (index, delivery) in acked.enumerated() {
                rig.consumer.ack(delivery)
                if index % 7 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            // Settled on the broker before the channel closes: RabbitMQ 3.10 can drop acks that a
            // quorum queue has not applied yet when the channel closes (rabbitmq-server#10327).
            let queue = rig.names.incidentsQueue
            try await eventually(10, "the broker counted the one delivery left unacknowledged") {
                (try? await TestBroker.rabbitmqctl("list_queues", "name", "messages_unacknowledged"))?
                    .split(separator: "\n").contains("\(queue)\t1") == true
            }
            await rig.consumer.close()

            // A new consumer gets exactly the one left alone, redelivered, before a message published now.
            let again = AMQPConsumer(
                configuration: try TestBroker.configuration("acks again"), queue: rig.names.incidentsQueue, logger: TestBroker.logger)
            _ = try await rig.publisher.publish(rig.incident("incident.fire", "{}", id: "after"))
            var seen: [Delivery] = []
            while !seen.contains(where: { $0.properties.messageID == "after" }) {
                seen += try await withTimeout(10, "the redelivery") { try await again.nextBatch(maximumCount: 64) ?? [] }
            }
            #expect(seen.map { $0.properties.messageID } == [left, "after"])
            #expect(seen.first?.redelivered == true)
            for delivery in seen { again.ack(delivery) }
            await again.close()
            await rig.close()
        }

        @Test("a connection advertises its name and capabilities")
        func connectionAdvertisesNameAndCapabilities() async throws {
            let name = TestBroker.uniquePrefix("named")
            let publisher = AMQPPublisher(configuration: try TestBroker.configuration(name), logger: TestBroker.logger)
            _ = try await publisher.publish(message("amq.topic", "nobody", "{}"))
            let connections = try await TestBroker.rabbitmqctl("list_connections", "client_properties")
            let ours = try #require(connections.split(separator: "\n").first { $0.contains("test: \(name)") })
            #expect(ours.contains("consumer_cancel_notify"))
            #expect(ours.contains("connection.blocked"))
            #expect(ours.contains("authentication_failure_close"))
            await publisher.close()
        }

        @Test("declaring the topology twice is harmless")
        func declaringTwiceIsHarmless() async throws {
            let topology = Topology.escalator(.prefixed(TestBroker.uniquePrefix("twice")))
            let configuration = try TestBroker.configuration("declare twice")
            try await topology.declare(using: configuration, logger: TestBroker.logger)
            try await topology.declare(using: configuration, logger: TestBroker.logger)
        }

        @Test("a queue declared again with another delivery limit gives an error naming the argument")
        func mismatchNamesTheArgument() async throws {
            let names = EscalatorNames.prefixed(TestBroker.uniquePrefix("mismatch"))
            let configuration = try TestBroker.configuration("mismatch")
            try await Topology.escalator(names, deliveryLimit: 5).declare(using: configuration, logger: TestBroker.logger)
            do {
                try await Topology.escalator(names, deliveryLimit: 7).declare(using: configuration, logger: TestBroker.logger)
                Issue.record("the second declaration was accepted")
            } catch {
                TestBroker.logger.info("refused as expected: \(error.message)")
                #expect(error.code == .topologyMismatch)
                #expect(error.message.contains("x-delivery-limit"))
                #expect(error.message.contains(names.incidentsQueue))
            }
        }

        @Test("a wrong password gives an authentication error naming user and vhost")
        func wrongPasswordIsExplained() async throws {
            var configuration = try TestBroker.configuration("bad credentials")
            configuration.password = "not-the-password"
            do {
                try await Topology().declare(using: configuration, logger: TestBroker.logger)
                Issue.record("login with a wrong password succeeded")
            } catch {
                #expect(error.code == .authenticationRefused)
                #expect(error.message.contains("authentication refused for user guest on vhost /"))
                #expect(!error.message.contains("not-the-password"))
            }
        }

        @Test("a publisher with a wrong password fails instead of retrying forever")
        func publisherWithWrongPasswordFails() async throws {
            var configuration = try TestBroker.configuration("bad credentials publisher")
            configuration.password = "not-the-password"
            let publisher = AMQPPublisher(configuration: configuration, logger: TestBroker.logger)
            do {
                _ = try await withTimeout(10, "the publish to fail") {
                    try await publisher.publish(message("amq.topic", "x", "{}"))
                }
                Issue.record("publishing with a wrong password succeeded")
            } catch let error as AMQPError {
                #expect(error.code == .authenticationRefused)
            }
            #expect(publisher.state.failure?.code == .authenticationRefused)
        }

        @Test("an idle connection survives thanks to heartbeats")
        func idleConnectionSurvives() async throws {
            let publisher = AMQPPublisher(
                configuration: try TestBroker.configuration("idle", heartbeat: .seconds(1)), logger: TestBroker.logger)
            #expect(try await publisher.publish(message("amq.topic", "nobody", "{}")) != .nacked)
            // Longer than the two missed heartbeats (2 s) after which the broker drops a connection.
            for _ in 0..<8 {
                try await Task.sleep(for: .milliseconds(500))
                #expect(publisher.state.isConnected)
            }
            // A drop and a quick reconnection between two looks would pass the loop above.
            #expect(publisher.sessionsStarted == 1, "the first connection served throughout")
            await publisher.close()
        }
    }
}

@Suite("Connection errors")
struct ConnectionErrorTests {
    @Test("a closed port gives connection refused and the retry delay")
    func closedPortIsExplained() async throws {
        let configuration = try AMQPConfiguration(
            url: "amqp://guest:guest@127.0.0.1:1/%2F", connectionName: "closed port",
            recovery: RecoveryPolicy(initialDelay: .seconds(2), maximumDelay: .seconds(2), jitter: 0))
        let publisher = AMQPPublisher(configuration: configuration, logger: TestBroker.logger)
        try await eventually(5, "the publisher reports recovering") {
            if case .recovering = publisher.state { return true }
            return false
        }
        #expect(publisher.state.description.contains("cannot connect to 127.0.0.1:1 (connection refused), retrying in 2 s"))
        if case .recovering(_, let error, _) = publisher.state {
            #expect(error.code == .connectionRefused)
        }
        await publisher.close()
    }

    @Test("a closed port fails for good once the attempts run out")
    func closedPortFailsAfterAttempts() async throws {
        let configuration = try AMQPConfiguration(
            url: "amqp://guest:guest@127.0.0.1:1/%2F", connectionName: "closed port",
            recovery: RecoveryPolicy(initialDelay: .milliseconds(10), maximumAttempts: 2))
        let publisher = AMQPPublisher(configuration: configuration, logger: TestBroker.logger)
        do {
            _ = try await withTimeout(5, "the publish to fail") { try await publisher.publish(message("x", "y", "{}")) }
            Issue.record("publishing to a closed port succeeded")
        } catch let error as AMQPError {
            #expect(error.message == "cannot connect to 127.0.0.1:1 (connection refused)")
        }
        #expect(publisher.state.failure?.code == .connectionRefused)
    }
}
