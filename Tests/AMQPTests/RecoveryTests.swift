import AMQP
import Foundation
import InMemoryLogging
import Logging
import Synchronization
import Testing

extension BrokerTests {
    /// These tests stop and restart the shared private broker: `BrokerTests` is serialized so that
    /// no other broker test runs meanwhile.
    @Suite("Recovery", .enabled(if: TestBroker.node != nil, TestBroker.controlUnavailableReason))
    struct RecoveryTests {
        @Test("after the broker closes every connection, consuming resumes and every confirmed message arrives")
        func survivesClosedConnections() async throws {
            try await streamSurvives("close-all") {
                try await TestBroker.rabbitmqctl("close_all_connections", "escalator recovery test")
            }
        }

        @Test("after the broker application restarts, consuming resumes and every confirmed message arrives")
        func survivesBrokerRestart() async throws {
            try await streamSurvives("restart") {
                try await TestBroker.rabbitmqctl("stop_app")
                try await Task.sleep(for: .seconds(1))
                try await TestBroker.rabbitmqctl("start_app")
            }
        }

        @Test("a broker that goes silent is detected by heartbeat timeout, and what it never confirmed is republished")
        func silentBrokerIsDetectedAndUnconfirmedRepublished() async throws {
            let (exchange, queue, topology) = singleQueueTopology(
                TestBroker.uniquePrefix("silent"), arguments: ["x-queue-type": "quorum"])
            var configuration = try TestBroker.configuration("silent broker", heartbeat: .seconds(1))
            configuration.connectTimeout = .seconds(2)
            let logs = InMemoryLogHandler()
            let publisher = AMQPPublisher(configuration: configuration, topology: topology, logger: Logger(label: "silent") { _ in logs })
            #expect(try await publisher.publish(message(exchange, "warm-up", "{}", id: "warm-up")) == .confirmed)

            let brokerProcess = try await TestBroker.brokerProcessID()
            // A stopped process keeps its sockets open: only the missing heartbeats tell.
            kill(brokerProcess, SIGSTOP)
            defer { kill(brokerProcess, SIGCONT) }
            let messages = (0..<1000).map { message(exchange, "silent", "{}", id: "silent-\($0)") }
            let publishing = Task { try await publisher.publish(messages) }
            try await eventually(10, "the publisher noticed the silence") {
                if case .recovering(_, let error, _) = publisher.state { return error.code == .heartbeatTimeout }
                return false
            }
            kill(brokerProcess, SIGCONT)

            let outcomes = try await withTimeout(60, "the republished messages to be confirmed") { try await publishing.value }
            #expect(outcomes.allSatisfy { $0 == .confirmed })
            #expect(logs.entries.contains { "\($0.message)" == "republishing 1000 messages the lost connection did not confirm" })
            await publisher.close()

            // Every message is in the queue; the stopped broker may also have taken some of the
            // first copies, which then arrive twice with the same message_id.
            let consumer = AMQPConsumer(
                configuration: try TestBroker.configuration("silent reader"), queue: queue, prefetch: 500, logger: TestBroker.logger)
            let expected = Set(messages.compactMap(\.properties.messageID) + ["warm-up"])
            let received = Set(
                try await receiveMessageIDs(from: consumer, within: 30, "every message") { expected.isSubset(of: $0) })
            #expect(received == expected)
            await consumer.close()
        }

        /// Raises the broker's memory alarm (every publishing connection is then blocked: the
        /// broker stops reading them, and keeps sending heartbeats), runs `body`, clears it.
        func withMemoryAlarm(_ body: (_ clear: () async throws -> Void) async throws -> Void) async throws {
            // A fraction, or {absolute,Bytes} when the node was configured so.
            let watermark = try await TestBroker.rabbitmqctl("eval", "vm_memory_monitor:get_vm_memory_high_watermark().")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let restore =
                watermark.hasPrefix("{absolute,")
                ? ["absolute", String(watermark.dropFirst("{absolute,".count).dropLast())] : [watermark]
            var cleared = false
            func clear() async throws {
                guard !cleared else { return }
                _ = try await TestBroker.rabbitmqctl(arguments: ["set_vm_memory_high_watermark"] + restore)
                cleared = true
            }
            try await TestBroker.rabbitmqctl("set_vm_memory_high_watermark", "0.000001")
            do {
                try await eventually(20, "the broker raised its memory alarm") {
                    (try? await TestBroker.rabbitmqctl("eval", "rabbit_alarm:get_alarms().").contains("memory")) == true
                }
                try await body(clear)
            } catch {
                try? await clear()
                throw error
            }
            try await clear()
        }

        /// Waits until the broker reports the connection named `name` blocked: it stopped reading
        /// it, on the alarm, at its first publish.
        func blocked(_ name: String) async throws {
            try await eventually(20, "the broker blocked '\(name)'") {
                // The client's connection name is among its client properties.
                let listed = (try? await TestBroker.rabbitmqctl("list_connections", "client_properties", "state")) ?? ""
                return listed.split(separator: "\n").contains { $0.contains("{\"connection_name\",\"\(name)\"}") && $0.hasSuffix("\tblocked") }
            }
        }

        /// 25 MiB: more than the socket buffers hold, so a publisher blocked by an alarm waits to write.
        func largeMessages(_ exchange: String, _ prefix: String) -> [OutboundMessage] {
            let body = String(repeating: "x", count: 64 * 1024)
            return (0..<400).map { message(exchange, prefix, body, id: "\(prefix)-\($0)") }
        }

        @Test("a resource alarm holds publishing on the same connection until it clears, and every message goes once")
        func resourceAlarmHoldsPublishing() async throws {
            let (exchange, queue, topology) = singleQueueTopology(
                TestBroker.uniquePrefix("alarm"), arguments: ["x-queue-type": "quorum"])
            // Short heartbeats: a publisher that took the blocked socket for a dead broker would
            // give up on it within two seconds.
            let publisher = AMQPPublisher(
                configuration: try TestBroker.configuration("alarm", heartbeat: .seconds(1)), topology: topology,
                logger: TestBroker.logger)
            #expect(try await publisher.publish(message(exchange, "warm-up", "{}", id: "warm-up")) == .confirmed)
            let messages = largeMessages(exchange, "alarm")
            try await withMemoryAlarm { clear in
                let publishing = Task { try await publisher.publish(messages) }
                try await blocked("test: alarm")
                // Longer than the two heartbeat intervals after which a silent broker is given up.
                try await Task.sleep(for: .seconds(3))
                #expect(publisher.sessionsStarted == 1, "the publisher gave up on a connection the broker only blocked")
                try await clear()
                let outcomes = try await withTimeout(60, "the messages to be confirmed after the alarm") {
                    try await publishing.value
                }
                #expect(outcomes.allSatisfy { $0 == .confirmed })
                #expect(publisher.sessionsStarted == 1)
            }
            await publisher.close()

            let consumer = AMQPConsumer(
                configuration: try TestBroker.configuration("alarm reader"), queue: queue, prefetch: 500, logger: TestBroker.logger)
            let received = try await receiveMessageIDs(from: consumer, within: 30, "every message") {
                $0.count >= messages.count + 1
            }
            #expect(received == ["warm-up"] + messages.compactMap(\.properties.messageID))
            await consumer.close()
        }

        @Test("closing a publisher the broker blocks gives up after the close's timeout, failing what was not confirmed")
        func closingDuringResourceAlarm() async throws {
            let (exchange, _, topology) = singleQueueTopology(TestBroker.uniquePrefix("alarm-close"))
            let publisher = AMQPPublisher(
                configuration: try TestBroker.configuration("alarm close"), topology: topology, logger: TestBroker.logger)
            #expect(try await publisher.publish(message(exchange, "warm-up", "{}", id: "warm-up")) == .confirmed)
            try await withMemoryAlarm { _ in
                let publishing = Task { try await publisher.publish(largeMessages(exchange, "alarm-close")) }
                try await blocked("test: alarm close")
                // Unstructured, so a close that waits for the alarm fails the test instead of hanging it.
                let closed = Mutex(false)
                Task {
                    await publisher.close(timeout: .seconds(1))
                    closed.withLock { $0 = true }
                }
                try await eventually(5, "the close gave up on the blocked broker") { closed.withLock { $0 } }
                let result = await publishing.result
                #expect(throws: AMQPError.self) { try result.get() }
            }
        }

        @Test("a consumer whose channel is closed, or whose queue is deleted, consumes again")
        func consumerRecoversFromChannelCloseAndCancel() async throws {
            let rig = try EscalatorRig("cancel")
            var sessions = 0
            func consumerRecovered() async throws {
                let before = sessions
                try await eventually(20, "the consumer connected again") {
                    rig.consumer.sessionsStarted > before && rig.consumer.state.isConnected
                }
                sessions = rig.consumer.sessionsStarted
            }
            #expect(try await rig.publisher.publish(rig.incident("incident.a", "{}", id: "first")) == .confirmed)
            let first = try await nextDelivery(of: rig.consumer, "the first message")
            // Counted once the consumer surely has its first session: it delivered.
            sessions = rig.consumer.sessionsStarted
            // Acknowledging twice is a protocol error: the broker closes the channel (406).
            rig.consumer.ack(first)
            rig.consumer.ack(first)
            try await consumerRecovered()
            #expect(try await rig.publisher.publish(rig.incident("incident.b", "{}", id: "second")) == .confirmed)
            #expect(try await nextDelivery(of: rig.consumer, "the second message").properties.messageID == "second")

            // basic.cancel: the consumer declares its topology again and consumes the new queue.
            try await TestBroker.rabbitmqctl("delete_queue", rig.names.incidentsQueue)
            try await consumerRecovered()
            #expect(try await rig.publisher.publish(rig.incident("incident.c", "{}", id: "third")) == .confirmed)
            let third = try await nextDelivery(of: rig.consumer, "the third message")
            #expect(third.properties.messageID == "third")
            rig.consumer.ack(third)
            await rig.close()
        }

        /// Publishes a stream of messages while consuming them, disrupts the broker a third of the
        /// way in, and checks that nothing confirmed is lost and duplicates are only redeliveries.
        private func streamSurvives(_ label: String, disruption: @escaping @Sendable () async throws -> Void) async throws {
            let names = EscalatorNames.prefixed(TestBroker.uniquePrefix(label))
            let topology = Topology.escalator(names)
            let publisher = AMQPPublisher(
                configuration: try TestBroker.configuration("\(label) publisher"), topology: topology, logger: TestBroker.logger)
            let consumer = AMQPConsumer(
                configuration: try TestBroker.configuration("\(label) consumer"), topology: topology, queue: names.incidentsQueue,
                prefetch: 50, logger: TestBroker.logger)
            let received = Mutex<[String: Int]>([:])
            let reader = Task {
                while let batch = try await consumer.nextBatch(maximumCount: 50) {
                    received.withLock { counts in
                        for delivery in batch { counts[delivery.properties.messageID ?? "?", default: 0] += 1 }
                    }
                    consumer.ack(batch.last!, multiple: true)
                }
            }
            defer { reader.cancel() }

            // About 3 s of publishing, so the disruption lands in the middle of the stream.
            let total = 3_000
            let batchSize = 10
            let publishing = Task {
                var outcomes: [String: PublishOutcome] = [:]
                for start in stride(from: 0, to: total, by: batchSize) {
                    let batch = (start..<(start + batchSize)).map { message(names.incidentsExchange, "incident.stream", "{}", id: "\(label)-\($0)") }
                    let settled = try await publisher.publish(batch)
                    for (message, outcome) in zip(batch, settled) { outcomes[message.properties.messageID!] = outcome }
                    try await Task.sleep(for: .milliseconds(10))
                }
                return outcomes
            }

            try await eventually(30, "a fifth of the stream was received") { received.withLock { $0.count } >= total / 5 }
            // Counted before the disruption: a reconnection can be over before anyone looks.
            let sessionsBefore = (publisher: publisher.sessionsStarted, consumer: consumer.sessionsStarted)
            try await disruption()
            try await eventually(60, "both connections recovered") {
                publisher.sessionsStarted > sessionsBefore.publisher && consumer.sessionsStarted > sessionsBefore.consumer
                    && publisher.state.isConnected && consumer.state.isConnected
            }
            let outcomes = try await withTimeout(90, "every publish to settle") { try await publishing.value }

            let confirmed = Set(outcomes.filter { $0.value == .confirmed }.keys)
            #expect(outcomes.count == total, "every publish has an outcome")
            #expect(confirmed.count > total / 2)
            try await eventually(60, "every confirmed message arrived") {
                received.withLock { counts in confirmed.allSatisfy { counts[$0] != nil } }
            }
            let counts = received.withLock { $0 }
            let unknown = Set(counts.keys).subtracting(outcomes.keys)
            #expect(unknown.isEmpty, "only published messages arrive; duplicates repeat their message_id")
            #expect(publisher.state.isConnected)
            #expect(consumer.state.isConnected)
            let duplicates = counts.values.reduce(0) { $0 + $1 - 1 }
            TestBroker.logger.info(
                "\(label): \(confirmed.count) of \(total) confirmed, \(counts.count) distinct received, \(duplicates) redelivered duplicates")
            await consumer.close()
            await publisher.close()
        }
    }
}
