import AMQP
import CallTree
import EscalatorCLI
import Foundation
import Logging
import Synchronization
import Testing
import WireContract

/// publish, reply, topology and watch against the private broker, each under names of its own.
@Suite(
    "publish, reply, topology and watch on a real broker",
    .enabled(if: OperatorTestBroker.isAvailable, OperatorTestBroker.unavailableReason))
struct BrokerCommandTests {
    let settings: OperatorSettings

    init() throws {
        settings = try operatorSettings()
    }

    /// Declares the Escalator topology under this test's names, as a worker would.
    func declareTopology() async throws -> Topology {
        try await TopologyDeclaration.declare(settings: settings, logger: quietLogger)
    }

    func consumer(_ queue: String) throws -> AMQPConsumer {
        AMQPConsumer(configuration: try settings.oneShotAMQP("test consumer"), queue: queue, logger: quietLogger)
    }

    @Test func aPublishedTriggerArrivesInTheIncidentsQueueAsPrepared() async throws {
        _ = try await declareTopology()
        var flags = IncidentPublishing.Flags()
        flags.key = "kc-hub-fire"
        flags.type = "warehouse-fire"
        flags.severity = "2"
        flags.title = "Fire alarm"
        flags.affected = 2
        let event = try IncidentPublishing.event(from: flags, knownTypes: sampleTypes)
        try await ConfirmedPublish.send(
            event.outbound(settings.names), describing: "event", configuration: try settings.oneShotAMQP("test"), logger: quietLogger)

        let incidents = try consumer(settings.names.incidentsQueue)
        defer { Task { await incidents.close() } }
        let delivery = try await nextDelivery(incidents)
        #expect(delivery.body == event.body)
        #expect(delivery.exchange == settings.names.incidentsExchange)
        #expect(delivery.routingKey == "incident.warehouse-fire")
        #expect(delivery.properties.messageID == event.message.eventID)
        #expect(delivery.properties.contentType == "application/json")
        #expect(try IncidentMessage(bytes: delivery.body, knownTypes: sampleTypes).affected.count == 2)
    }

    @Test func aReplyArrivesInTheRepliesQueueCorrelatedWithItsPage() async throws {
        _ = try await declareTopology()
        let reply = try ReplyPublishing.reply(
            from: .init(page: "page:inc-0123456789abcdef:operations:1:1:lee-dispatch"), signer: settings.pageTokenSigner)
        try await ConfirmedPublish.send(
            reply.outbound(settings.names), describing: "reply", configuration: try settings.oneShotAMQP("test"), logger: quietLogger)

        let replies = try consumer(settings.names.repliesQueue)
        defer { Task { await replies.close() } }
        let delivery = try await nextDelivery(replies)
        #expect(delivery.properties.correlationID == "page:inc-0123456789abcdef:operations:1:1:lee-dispatch")
        let message = try ReplyMessage(bytes: delivery.body)
        #expect(message.replyID == reply.message.replyID)
        #expect(PageTokenSigner(secret: Array(testSecret.utf8)).isValid(message.token, page: message.page.description, contact: "lee-dispatch"))
    }

    @Test func publishingBeforeTheTopologyExistsFailsSayingWhatToDo() async throws {
        let event = try IncidentPublishing.event(
            from: {
                var flags = IncidentPublishing.Flags()
                flags.key = "k"
                flags.type = "parcel-loss"
                flags.severity = "3"
                flags.title = "Lost"
                return flags
            }(), knownTypes: sampleTypes)
        let error = await #expect(throws: CommandFailure.self) {
            try await ConfirmedPublish.send(
                event.outbound(settings.names), describing: "event", configuration: try settings.oneShotAMQP("test"),
                logger: quietLogger)
        }
        #expect(error?.message.contains("does not exist") == true)
        #expect(error?.message.contains("escalator topology") == true)
    }

    @Test func aReplyToAQueueThatDoesNotExistIsReturned() async throws {
        let reply = try ReplyPublishing.reply(from: .init(page: "page:inc-1:operations:1:1:lee-dispatch"), signer: settings.pageTokenSigner)
        let error = await #expect(throws: CommandFailure.self) {
            try await ConfirmedPublish.send(
                reply.outbound(settings.names), describing: "reply", configuration: try settings.oneShotAMQP("test"),
                logger: quietLogger)
        }
        #expect(error?.message.contains("there is no queue '\(settings.names.repliesQueue)'") == true)
    }

    @Test func anUnreachableBrokerFailsQuicklyNamingTheURLSetting() async throws {
        // Port 1 on loopback: nothing listens there.
        let unreachable = try operatorSettings(url: "amqp://guest:guest@127.0.0.1:1/%2F")
        let started = ContinuousClock.now
        let error = await #expect(throws: CommandFailure.self) {
            try await ConfirmedPublish.send(
                OutboundMessage(exchange: "incidents", routingKey: "incident.x", body: []), describing: "event",
                configuration: try unreachable.oneShotAMQP("test"), logger: quietLogger)
        }
        #expect(error?.message.contains("ESCALATOR_AMQP_URL") == true)
        #expect(ContinuousClock.now - started < .seconds(15))
    }

    @Test func theTopologyIsDeclaredAndDescribedWithQueueArguments() async throws {
        let topology = try await declareTopology()
        #expect(topology == Topology.escalator(settings.names))
        let text = TopologyDeclaration.describe(topology, endpoint: "amqp://test")
        #expect(text.contains("\(settings.names.pagesExchange) "))
        #expect(text.contains("\(settings.names.deadLetterExchange) ") && text.contains("fanout"))
        #expect(text.contains("\(settings.names.incidentsQueue)  durable, x-dead-letter-exchange=\(settings.names.deadLetterExchange)"))
        #expect(text.contains("x-queue-type=quorum"))
        #expect(text.contains("\(settings.names.incidentsExchange) —incident.#→ \(settings.names.incidentsQueue)"))
        // Declared for real: an event to the incidents exchange is now routed and confirmed.
        try await ConfirmedPublish.send(
            OutboundMessage(exchange: settings.names.incidentsExchange, routingKey: "incident.parcel-loss", body: Array("{}".utf8)),
            describing: "event", configuration: try settings.oneShotAMQP("test"), logger: quietLogger)
    }

    @Test func aWatchPrintsPagesAndStatusUpdatesAsTheyArrive() async throws {
        var options = MessageWatch.Options()
        options.streams = [.pages, .status]
        options.count = 2
        let lines = Mutex<[String]>([])
        let ready = Mutex(false)
        let settings = settings
        let watch = Task {
            try await MessageWatch.run(
                settings: settings, options: options, logger: quietLogger, ready: { ready.withLock { $0 = true } },
                output: { line in lines.withLock { $0.append(line) } })
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !ready.withLock({ $0 }) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        // `ready` comes after the watch queue and its bindings are declared: from here on
        // nothing published is missed.
        #expect(ready.withLock { $0 })

        let page = #"{"schema":"page.v1","page_id":"page:inc-1:operations:1:2:tam-mei-yee","department":"operations","round":1,"step":2,"contact":{"id":"tam-mei-yee","name":"Tam","channel":"phone","address":"+852 5550 0302"},"ack_deadline":"2026-11-29T08:10:00.000Z","drill":true,"text":"Fire"}"#
        let status = #"{"schema":"status.v1","seq":3,"state":"open","reason":"operations: step timed out","departments":[{"department":"operations","state":"acknowledged","acknowledged_by":"tam-mei-yee"},{"department":"finance","state":"paging","round":1,"step":1}],"drill":false}"#
        let configuration = try settings.oneShotAMQP("test")
        try await ConfirmedPublish.send(
            OutboundMessage(exchange: settings.names.pagesExchange, routingKey: "page.phone.operations", body: Array(page.utf8)),
            describing: "page", configuration: configuration, logger: quietLogger)
        try await ConfirmedPublish.send(
            OutboundMessage(exchange: settings.names.statusExchange, routingKey: "status.warehouse-fire.open", body: Array(status.utf8)),
            describing: "status", configuration: configuration, logger: quietLogger)

        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await watch.value) != nil }
            group.addTask {
                try? await Task.sleep(for: .seconds(15))
                return false
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        watch.cancel()
        #expect(finished, "the watch did not stop after --count 2 messages")
        let printed = lines.withLock { $0 }
        #expect(printed.count == 2)
        #expect(printed.first?.contains("page    operations r1s2 → tam-mei-yee Tam (phone +852 5550 0302) ack by 08:10:00 [drill]  page:inc-1:operations:1:2:tam-mei-yee") == true)
        #expect(printed.last?.contains("status  #3 open (operations: step timed out)  operations acked by tam-mei-yee, finance paging r1s1") == true)
    }

    @Test func aWatchOfAnUnreachableBrokerFailsAtOnce() async throws {
        let unreachable = try operatorSettings(url: "amqp://guest:guest@127.0.0.1:1/%2F")
        let error = await #expect(throws: CommandFailure.self) {
            try await MessageWatch.run(settings: unreachable, options: .init(), logger: quietLogger, output: { _ in })
        }
        #expect(error?.message.contains("cannot watch through amqp://guest@127.0.0.1:1") == true)
    }
}
