import AMQP
import CallTree
import EscalatorProcessFixtures
import Foundation
import Logging
import Synchronization
import Testing
import WireContract
import Worker

/// The private broker `scripts/test` starts; the end-to-end tests are disabled without it.
enum EndToEnd {
    static let url = ProcessInfo.processInfo.environment["ESCALATOR_TEST_AMQP_URL"]
    static let isAvailable = url != nil && escalatorExecutable != nil
    static let unavailableReason: Comment =
        "ESCALATOR_TEST_AMQP_URL is not set or the escalator executable is not built: run scripts/test"
    static let secret = "end-to-end secret"
    static let signer = PageTokenSigner(secret: Array(secret.utf8))
    static let plan = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/e2e-plan.yaml").path

    static let logger: Logger = {
        var logger = Logger(label: "escalator.e2e")
        logger.logLevel = .warning
        return logger
    }()

    /// `escalator`, next to the test bundle in the build products, as `swift build` leaves it.
    static let escalatorExecutable: String? = {
        if let path = ProcessInfo.processInfo.environment["ESCALATOR_EXECUTABLE"] { return path }
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return [products.appendingPathComponent("escalator").path, packageRoot.appendingPathComponent(".build/debug/escalator").path]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static func configuration(_ name: String) throws -> AMQPConfiguration {
        try AMQPConfiguration(
            url: url!, connectionName: "e2e: \(name)",
            recovery: RecoveryPolicy(initialDelay: .milliseconds(200), maximumDelay: .seconds(1)))
    }
}

/// One test's world: its own exchange and queue names on the shared broker, its own store file,
/// a watcher on everything the workers publish, and a publisher for what upstream and gateways send.
final class Scenario: Sendable {
    let names: EscalatorNames
    let folder: URL
    let storePath: String
    let watcher: Watcher
    let publisher: AMQPPublisher

    init(_ label: String) async throws {
        names = EscalatorNames.prefixed("e2e.\(label).\(UInt32.random(in: 0...UInt32.max)).")
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("escalator-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        storePath = folder.appendingPathComponent("store.sqlite").path
        let configuration = try EndToEnd.configuration(label)
        try await Topology.escalator(names).declare(using: configuration, logger: EndToEnd.logger)
        watcher = try await Watcher(names: names, configuration: configuration)
        publisher = AMQPPublisher(configuration: configuration, logger: EndToEnd.logger)
    }

    func startWorker(_ extraEnvironment: [String: String] = [:]) throws -> WorkerProcess {
        var environment = ProcessInfo.processInfo.environment
        environment["ESCALATOR_AMQP_URL"] = EndToEnd.url!
        environment["ESCALATOR_STORE"] = storePath
        environment["ESCALATOR_PLAN"] = EndToEnd.plan
        environment["ESCALATOR_SECRET"] = EndToEnd.secret
        environment["ESCALATOR_SECRET_FILE"] = ""
        environment["ESCALATOR_LOG_LEVEL"] = "info"
        environment.merge(names.workerEnvironment) { $1 }
        environment.merge(extraEnvironment) { $1 }
        return try WorkerProcess(
            executable: EndToEnd.escalatorExecutable!, environment: environment,
            log: folder.appendingPathComponent("worker-\(UUID().uuidString.prefix(8)).log"))
    }

    // MARK: What upstream and the gateways send

    @discardableResult
    func trigger(
        key: String, severity: Int = 2, type: String = "warehouse-fire", affected: Int = 0, drill: Bool = false,
        eventID: String? = nil
    ) async throws -> String {
        let eventID = eventID ?? "evt-\(key)-\(UUID().uuidString.prefix(8))"
        let body = IncidentEventBody(
            eventID: eventID, action: .trigger, incidentKey: key, type: type, severity: severity, title: "Fire at \(key)",
            occurredAt: RFC3339.format(.init(Date())),
            affected: affected == 0 ? nil : (1...affected).map { .init(waybill: "\(key)-WB\($0)", customerID: "C\($0)") },
            drill: drill)
        try await publish(raw: WireJSON.encode(body), routingKey: "incident.\(type)")
        return eventID
    }

    func resolve(key: String) async throws {
        let body = IncidentEventBody(eventID: "evt-\(key)-resolve", action: .resolve, incidentKey: key)
        try await publish(raw: WireJSON.encode(body), routingKey: "incident.warehouse-fire")
    }

    func publish(raw body: [UInt8], routingKey: String) async throws {
        let outcome = try await publisher.publish(
            OutboundMessage(
                exchange: names.incidentsExchange, routingKey: routingKey, body: body,
                properties: MessageProperties(contentType: "application/json")))
        guard outcome == .confirmed else { throw TestFailure("incident not confirmed: \(outcome)") }
    }

    /// What a gateway sends for a page: the page's own token unless told otherwise.
    func reply(
        to page: WatchedMessage, action: ReplyAction = .ack, contact: String? = nil, token: String? = nil,
        replyID: String = "r-\(UUID().uuidString.prefix(8))"
    ) async throws {
        let body = ReplyBody(
            replyID: replyID, pageID: page.string("page_id")!, contactID: contact ?? page.contactID!,
            token: token ?? page.string("token")!, action: action, sentAt: RFC3339.format(.init(Date())))
        try await reply(raw: WireJSON.encode(body), correlationID: page.string("page_id"))
    }

    func reply(raw body: [UInt8], correlationID: String?) async throws {
        let outcome = try await publisher.publish(
            OutboundMessage(
                exchange: "", routingKey: names.repliesQueue, body: body,
                properties: MessageProperties(contentType: "application/json", correlationID: correlationID)))
        guard outcome == .confirmed else { throw TestFailure("reply not confirmed: \(outcome)") }
    }

    func close() async {
        await watcher.close()
        await publisher.close()
    }
}

/// A message a worker published, as a consumer bound to its exchange sees it.
struct WatchedMessage: Sendable, CustomStringConvertible {
    let exchange: String
    let routingKey: String
    let messageID: String?
    let correlationID: String?
    let replyTo: String?
    let headers: [String: String]
    let body: [UInt8]
    let json: [String: any Sendable]

    func string(_ key: String) -> String? { json[key] as? String }
    func int(_ key: String) -> Int? { json[key] as? Int }
    var incidentID: String? { string("incident_id") }
    var department: String? { string("department") }
    var contactID: String? { (json["contact"] as? [String: any Sendable])?["id"] as? String }
    var isPage: Bool { string("schema") == "page.v1" }
    var isStatus: Bool { string("schema") == "status.v1" }
    var isNotice: Bool { string("schema") == "notice.v1" }
    var position: StepPosition? { int("round").flatMap { round in int("step").map { StepPosition(round: round, step: $0) } } }

    var description: String { "\(routingKey) \(String(decoding: body, as: UTF8.self))" }
}

/// Binds a queue of its own to the pages, notices, status and dead-letter exchanges and keeps
/// everything that arrives, in arrival order.
final class Watcher: Sendable {
    private final class Received: Sendable {
        let messages = Mutex<[WatchedMessage]>([])
    }

    private let consumer: AMQPConsumer
    private let received = Received()
    private let task: Task<Void, Never>

    init(names: EscalatorNames, configuration: AMQPConfiguration) async throws {
        let queue = names.incidentsQueue + ".watcher"
        let topology = Topology(
            queues: [Topology.Queue(name: queue, durable: false)],
            bindings: [
                .init(queue: queue, exchange: names.pagesExchange, routingKey: "#"),
                .init(queue: queue, exchange: names.noticesExchange, routingKey: "#"),
                .init(queue: queue, exchange: names.statusExchange, routingKey: "#"),
                .init(queue: queue, exchange: names.deadLetterExchange, routingKey: "#"),
            ])
        try await topology.declare(using: configuration, logger: EndToEnd.logger)
        consumer = AMQPConsumer(configuration: configuration, topology: topology, queue: queue, prefetch: 500, logger: EndToEnd.logger)
        let consumer = consumer
        let received = received
        task = Task {
                do {
                    for try await delivery in consumer {
                        let json = (try? JSONSerialization.jsonObject(with: Data(delivery.body))) as? [String: Any] ?? [:]
                        let message = WatchedMessage(
                            exchange: delivery.exchange, routingKey: delivery.routingKey, messageID: delivery.properties.messageID,
                            correlationID: delivery.properties.correlationID, replyTo: delivery.properties.replyTo,
                            headers: delivery.properties.headers.compactMapValues(\.stringValue), body: delivery.body,
                            json: Self.sendable(json))
                        received.messages.withLock { $0.append(message) }
                        consumer.ack(delivery)
                    }
                } catch {}
        }
    }

    /// JSON objects hold strings, numbers, booleans, nulls, arrays and objects: all sendable.
    private static func sendable(_ object: [String: Any]) -> [String: any Sendable] {
        object.mapValues { value -> any Sendable in
            switch value {
            case let nested as [String: Any]: return sendable(nested)
            case let list as [Any]: return list.map { element -> any Sendable in
                (element as? [String: Any]).map(sendable) ?? (element as? String) ?? (element as? Int) ?? "\(element)"
            }
            case let number as NSNumber where String(cString: number.objCType) == "c": return number.boolValue
            case let number as NSNumber: return number.intValue
            case let text as String: return text
            default: return "\(value)"
            }
        }
    }

    var messages: [WatchedMessage] { received.messages.withLock { $0 } }

    /// Waits until `condition` holds for what has arrived; fails the test after `timeout`.
    @discardableResult
    func wait(
        for what: String, timeout: Duration = .seconds(20), _ condition: ([WatchedMessage]) -> Bool
    ) async throws -> [WatchedMessage] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let messages = self.messages
            if condition(messages) { return messages }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("timed out waiting for \(what); received:\n" + messages.map(\.description).joined(separator: "\n"))
    }

    func close() async {
        task.cancel()
        await consumer.close()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
