import AMQP
import EscalatorProcessFixtures
import Foundation
import Logging
import Testing

/// The private broker `scripts/test` starts; tests that need it are disabled without it.
enum TestBroker {
    static let url = ProcessInfo.processInfo.environment["ESCALATOR_TEST_AMQP_URL"]
    static let node = ProcessInfo.processInfo.environment["ESCALATOR_TEST_RABBITMQ_NODE"]
    static let isAvailable = url != nil
    static let unavailableReason: Comment =
        "ESCALATOR_TEST_AMQP_URL is not set: run scripts/test, which starts a private RabbitMQ node"
    static let controlUnavailableReason: Comment =
        "ESCALATOR_TEST_AMQP_URL or ESCALATOR_TEST_RABBITMQ_NODE is not set: run scripts/test"

    static let logger: Logger = {
        var logger = Logger(label: "escalator.amqp.tests")
        logger.logLevel = .info
        return logger
    }()

    /// Fast retries, so recovery tests take seconds.
    static let quickRecovery = RecoveryPolicy(initialDelay: .milliseconds(200), maximumDelay: .seconds(1))

    static func configuration(
        _ name: String, heartbeat: Duration = .seconds(10), recovery: RecoveryPolicy = quickRecovery
    ) throws -> AMQPConfiguration {
        try AMQPConfiguration(url: url!, connectionName: "test: \(name)", heartbeat: heartbeat, recovery: recovery)
    }

    /// Names no other test uses, so tests run in parallel and reruns start clean.
    static func uniquePrefix(_ label: String) -> String {
        "test.\(label).\(UInt32.random(in: 0...UInt32.max)).".lowercased()
    }

    /// Runs rabbitmqctl against the private node and returns its output.
    @discardableResult
    static func rabbitmqctl(_ arguments: String...) async throws -> String {
        try await rabbitmqctl(arguments: arguments)
    }

    @discardableResult
    static func rabbitmqctl(arguments: [String]) async throws -> String {
        try await ChildProcess.output("/usr/sbin/rabbitmqctl", ["-q", "-n", node!] + arguments, timeout: .seconds(60))
    }
}

extension TestBroker {
    /// The operating-system process of the private node.
    static func brokerProcessID() async throws -> pid_t {
        let output = try await rabbitmqctl("eval", "list_to_integer(os:getpid()).")
        guard let pid = pid_t(output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestFailure("cannot read the broker's process id from: \(output)")
        }
        return pid
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`, failing if it takes longer than `seconds`.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TestFailure("timed out after \(seconds) s: \(what)")
        }
        return value
    }
}

/// The message ids of `consumer`'s deliveries in the order they came, each batch acknowledged,
/// until `enough` holds of those received; a test failure after `seconds`.
func receiveMessageIDs(
    from consumer: AMQPConsumer, within seconds: Double, _ what: String, until enough: @escaping @Sendable ([String]) -> Bool
) async throws -> [String] {
    try await withTimeout(seconds, what) {
        var ids: [String] = []
        while !enough(ids), let batch = try await consumer.nextBatch(maximumCount: 500) {
            ids += batch.compactMap(\.properties.messageID)
            consumer.ack(batch.last!, multiple: true)
        }
        return ids
    }
}

/// Waits until `condition` holds, polling.
func eventually(_ seconds: Double, _ what: String, _ condition: @Sendable () async -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while !(await condition()) {
        if ContinuousClock.now > deadline { throw TestFailure("timed out after \(seconds) s waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

extension ConnectionState {
    var isConnected: Bool {
        if case .connected = self { return true }
        return false
    }

    var failure: AMQPError? {
        if case .failed(let error) = self { return error }
        return nil
    }
}

/// A publisher, a consumer of the incidents queue and a reader of the dead-letter queue, on a
/// fresh set of Escalator names.
struct EscalatorRig {
    let names: EscalatorNames
    let publisher: AMQPPublisher
    let consumer: AMQPConsumer
    let deadLetters: AMQPConsumer

    init(_ label: String, deliveryLimit: Int = 5, deadLettering: Bool = false) throws {
        names = EscalatorNames.prefixed(TestBroker.uniquePrefix(label))
        let topology = Topology.escalator(names, deliveryLimit: deliveryLimit)
        publisher = AMQPPublisher(
            configuration: try TestBroker.configuration("\(label) publisher"), topology: topology, logger: TestBroker.logger)
        consumer = AMQPConsumer(
            configuration: try TestBroker.configuration("\(label) consumer"), topology: topology, queue: names.incidentsQueue,
            deadLettering: deadLettering ? .init(publisher: publisher, exchange: names.deadLetterExchange) : nil,
            logger: TestBroker.logger)
        deadLetters = AMQPConsumer(
            configuration: try TestBroker.configuration("\(label) dead-letter reader"), topology: topology,
            queue: names.deadLetterQueue, logger: TestBroker.logger)
    }

    func incident(_ routingKey: String, _ body: String, id: String) -> OutboundMessage {
        message(names.incidentsExchange, routingKey, body, id: id)
    }

    func close() async {
        await consumer.close()
        await deadLetters.close()
        await publisher.close()
    }
}

/// An exchange with one queue bound to it under `routingKey`.
func singleQueueTopology(_ prefix: String, routingKey: String = "#", arguments: AMQPTable = [:]) -> (
    exchange: String, queue: String, topology: Topology
) {
    let exchange = prefix + "exchange"
    let queue = prefix + "queue"
    let topology = Topology(
        exchanges: [.init(name: exchange)], queues: [.init(name: queue, arguments: arguments)],
        bindings: [.init(queue: queue, exchange: exchange, routingKey: routingKey)])
    return (exchange, queue, topology)
}

/// The next delivery of `consumer`, failing after `seconds`.
func nextDelivery(of consumer: AMQPConsumer, within seconds: Double = 10, _ what: String) async throws -> Delivery {
    let delivery = try await withTimeout(seconds, what) { try await consumer.nextBatch(maximumCount: 1)?.first }
    return try #require(delivery, "the consumer ended before \(what)")
}

/// The reason of the first `x-death` entry the broker added when it dead-lettered `delivery`.
func deathReason(_ delivery: Delivery) -> String? {
    guard case .array(let deaths) = delivery.properties.headers["x-death"], case .table(let death) = deaths.first else {
        return nil
    }
    return death["reason"]?.stringValue
}

func message(_ exchange: String, _ routingKey: String, _ text: String, id: String? = nil) -> OutboundMessage {
    OutboundMessage(
        exchange: exchange, routingKey: routingKey, body: Array(text.utf8),
        properties: MessageProperties(contentType: "application/json", messageID: id))
}

/// Every test that needs the broker. Serialized: the recovery tests stop and restart the
/// broker, which would break whatever else ran at the time.
@Suite("Real broker", .serialized, .enabled(if: TestBroker.isAvailable, TestBroker.unavailableReason))
enum BrokerTests {}
