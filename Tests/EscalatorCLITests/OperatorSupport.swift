import AMQP
import CallTree
import EscalatorCLI
import Foundation
import Logging
import PlanFile
import Rendering
import Testing
import WireContract
import Worker

/// The private broker `scripts/test` starts; the tests that need it are disabled without it.
enum OperatorTestBroker {
    static let url = ProcessInfo.processInfo.environment["ESCALATOR_TEST_AMQP_URL"]
    static let isAvailable = url != nil
    static let unavailableReason: Comment =
        "ESCALATOR_TEST_AMQP_URL is not set: run scripts/test, which starts a private RabbitMQ node"
}

let sampleRenderer = try! Renderer.load(contentsOf: samplePlanPath)
let sampleTypes = Set(sampleRenderer.document.plan.incidentTypes.map(\.id))
let testSecret = "cli test secret"
let quietLogger = Logger.quiet("escalator.cli.tests")

/// Settings as the commands read them, from the environment only, under names no other test
/// uses so tests run in parallel on one broker.
func operatorSettings(
    prefix: String = "test.cli.\(UInt32.random(in: 0...UInt32.max)).", store: String? = nil, url: String? = OperatorTestBroker.url
) throws -> OperatorSettings {
    var environment = ["ESCALATOR_SECRET": testSecret, "ESCALATOR_PLAN": samplePlanPath]
    if let url { environment["ESCALATOR_AMQP_URL"] = url }
    if let store { environment["ESCALATOR_STORE"] = store }
    var settings = try OperatorSettings.load(file: "/nonexistent/escalator.yaml", environment: environment)
    settings.configuration.names = EscalatorNames.prefixed(prefix)
    return settings
}

/// Waits for the next delivery on `consumer`, failing the test after `timeout`.
func nextDelivery(_ consumer: AMQPConsumer, timeout: Duration = .seconds(10)) async throws -> Delivery {
    try await withThrowingTaskGroup(of: Delivery?.self) { group in
        group.addTask {
            var iterator = consumer.makeAsyncIterator()
            return try await iterator.next()
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        guard let delivery = first else { throw TestTimeout(what: "a delivery on \(consumer.queue)") }
        return delivery
    }
}

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Records what a publisher was asked to publish and answers with a fixed outcome or error.
final class StubPublisher: AMQPPublishing, @unchecked Sendable {
    // @unchecked: written once by the test before use.
    let answer: Result<PublishOutcome, AMQPError>

    init(_ answer: Result<PublishOutcome, AMQPError>) {
        self.answer = answer
    }

    func publish(_ messages: [OutboundMessage]) async throws(AMQPError) -> [PublishOutcome] {
        let outcome = try answer.get()
        return messages.map { _ in outcome }
    }
}

/// A TCP listener on loopback that accepts connections and never says a word: a broker that
/// hangs. The kernel completes the handshake from the backlog without an `accept`.
final class SilentListener: Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let listening = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listening >= 0 else { throw TestTimeout(what: "a socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(listening, socketAddress, length) == 0 && listen(listening, 16) == 0
                    && getsockname(listening, socketAddress, &length) == 0
            }
        }
        guard bound else {
            close(listening)
            throw TestTimeout(what: "a listening socket")
        }
        descriptor = listening
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit {
        close(descriptor)
    }
}
