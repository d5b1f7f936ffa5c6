// Relay throughput on the broker at ESCALATOR_AMQP_URL (scripts/benchmark-amqp starts a private
// one): (a) a raw rabbitmq-c loop, the floor of any worker on this broker, and (b) the same relay
// through the AMQP adapter, in the same process, alternating, on fresh quorum queues per run.
// Persistent 100-byte messages; confirms and acks in batches. Then (c) the raw loop again on
// messages shaped as wire contract v1 shapes the worker's (RelayShape.contract), whose broker work
// per message is the floor a worker keeping to the contract is compared with.
import AMQP
import Foundation
import Logging
import ProcessTimes
import RawAMQP

let environment = ProcessInfo.processInfo.environment
let url = environment["ESCALATOR_AMQP_URL"] ?? environment["ESCALATOR_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5682/%2F"
let messagesPerRun = Int(environment["ESCALATOR_BENCHMARK_MESSAGES"] ?? "") ?? 20_000
let rounds = Int(environment["ESCALATOR_BENCHMARK_ROUNDS"] ?? "") ?? 3
let batchSize = 100
let prefetch: UInt16 = 300
/// The broker's process, when known: its CPU time per message is measured over the raw relay.
let brokerPID = Int32(environment["ESCALATOR_BENCHMARK_BROKER_PID"] ?? "")

let logger: Logger = {
    var logger = Logger(label: "escalator.amqp.benchmark")
    logger.logLevel = .warning
    return logger
}()
let configuration = try AMQPConfiguration(url: url, connectionName: "relay benchmark")

/// What the relayed messages look like and where they go.
struct RelayShape {
    var label: String
    var bodySize: Int
    var properties: @Sendable (Int) -> MessageProperties
    /// Published to this topic exchange under this routing key, the sink bound by `bindingKey`;
    /// nil: to the default exchange, straight to the sink.
    var topic: (exchange: String, routingKey: String, bindingKey: String)?
    /// The source declared as Escalator declares its incidents queue: dead-lettering after a
    /// delivery limit.
    var sourceLikeIncidents: Bool

    /// 100-byte messages from queue to queue: the plain floor.
    static let plain = RelayShape(
        label: "raw", bodySize: 100, properties: { MessageProperties(messageID: "m-\($0)") }, topic: nil,
        sourceLikeIncidents: false)
    /// Messages as wire contract v1 makes the worker's: a page's size and properties, published to
    /// a topic exchange under a page's routing key, consumed from a queue declared as the incidents
    /// queue is. The floor of any worker that keeps to the contract, on this broker.
    static let contract = RelayShape(
        label: "contract", bodySize: 530,
        properties: {
            MessageProperties(
                contentType: "application/json", correlationID: "page:inc-\($0):load-desk:1:1:first",
                replyTo: "escalator.replies", messageID: "page:inc-\($0):load-desk:1:1:first")
        },
        topic: ("bench.contract.pages", "page.sms.load-desk", "page.*.load-desk"), sourceLikeIncidents: true)
}

func queues(_ label: String, _ round: Int, shape: RelayShape = .plain) -> (source: String, sink: String, topology: Topology) {
    let source = "bench.\(label).\(round).source"
    let sink = "bench.\(label).\(round).sink"
    var topology = Topology(queues: [
        shape.sourceLikeIncidents
            ? .quorum(name: source, deliveryLimit: 5, deadLetterExchange: "bench.dead")
            : .init(name: source, arguments: ["x-queue-type": "quorum"]),
        .init(name: sink, arguments: ["x-queue-type": "quorum"]),
    ])
    if let topic = shape.topic {
        topology.exchanges.append(.init(name: topic.exchange))
        topology.bindings.append(.init(queue: sink, exchange: topic.exchange, routingKey: topic.bindingKey))
    }
    return (source, sink, topology)
}

/// Fills `queue` with `count` messages (not timed).
func prefill(_ queue: String, topology: Topology, shape: RelayShape = .plain) async throws {
    try await topology.declare(using: configuration, logger: logger)
    let publisher = AMQPPublisher(configuration: configuration, logger: logger)
    let body = [UInt8](repeating: UInt8(ascii: "x"), count: shape.bodySize)
    for start in stride(from: 0, to: messagesPerRun, by: 1000) {
        let batch = (start..<min(start + 1000, messagesPerRun)).map {
            OutboundMessage(exchange: "", routingKey: queue, body: body, properties: shape.properties($0))
        }
        let outcomes = try await publisher.publish(batch)
        guard outcomes.allSatisfy(\.isConfirmed) else { throw BenchmarkError("prefill was not confirmed") }
    }
    await publisher.close()
}

func cleanUp(_ names: (source: String, sink: String, topology: Topology)) throws {
    let connection = try RawConnection(configuration, name: "benchmark clean-up")
    connection.deleteQueue(names.source)
    connection.deleteQueue(names.sink)
    connection.close()
}

/// What one relay run achieved: messages per second, the client's CPU time per message (all
/// threads of this process), and the broker's when its process is known.
struct Measurement {
    var rate: Double
    var cpuMicrosecondsPerMessage: Double
    var brokerMicrosecondsPerMessage: Double?
}

func measureRaw(round: Int, shape: RelayShape = .plain) async throws -> Measurement {
    let names = queues(shape.label, round, shape: shape)
    try await prefill(names.source, topology: names.topology, shape: shape)
    let started = ContinuousClock.now
    let cpuStarted = cpuSecondsOfThisProcess()
    let brokerStarted = brokerPID.flatMap(cpuSeconds(ofProcess:))
    // Blocking C calls: on a thread of their own, as a worker would.
    let relayed: Int = try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do {
                let relay = RawRelay(configuration: configuration)
                continuation.resume(
                    returning: try relay.run(
                        source: names.source, sink: names.sink, via: shape.topic.map { ($0.exchange, $0.routingKey) },
                        count: messagesPerRun, prefetch: prefetch, batchSize: batchSize))
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.start()
    }
    let elapsed = ContinuousClock.now - started
    let cpu = cpuSecondsOfThisProcess() - cpuStarted
    let broker = brokerStarted.flatMap { started in brokerPID.flatMap(cpuSeconds(ofProcess:)).map { $0 - started } }
    try cleanUp(names)
    return Measurement(
        rate: Double(relayed) / elapsed.secondsValue, cpuMicrosecondsPerMessage: cpu / Double(relayed) * 1e6,
        brokerMicrosecondsPerMessage: broker.map { $0 / Double(relayed) * 1e6 })
}

func measureAdapter(round: Int) async throws -> Measurement {
    let names = queues("adapter", round)
    try await prefill(names.source, topology: names.topology)
    let publisher = AMQPPublisher(configuration: configuration, logger: logger)
    let consumer = AMQPConsumer(configuration: configuration, queue: names.source, prefetch: prefetch, logger: logger)
    // Both measurements include opening their two connections.
    let started = ContinuousClock.now
    let cpuStarted = cpuSecondsOfThisProcess()
    var relayed = 0
    while relayed < messagesPerRun, let batch = try await consumer.nextBatch(maximumCount: min(batchSize, messagesPerRun - relayed)) {
        let outcomes = try await publisher.publish(
            batch.map { OutboundMessage(exchange: "", routingKey: names.sink, body: $0.body, properties: $0.properties) })
        guard outcomes.allSatisfy(\.isConfirmed) else { throw BenchmarkError("adapter relay: a message was not confirmed") }
        consumer.ack(batch.last!, multiple: true)
        relayed += batch.count
    }
    let elapsed = ContinuousClock.now - started
    let cpu = cpuSecondsOfThisProcess() - cpuStarted
    await consumer.close()
    await publisher.close()
    try cleanUp(names)
    return Measurement(rate: Double(relayed) / elapsed.secondsValue, cpuMicrosecondsPerMessage: cpu / Double(relayed) * 1e6)
}

extension Duration {
    var secondsValue: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

print("AMQP relay benchmark: \(messagesPerRun) persistent 100-byte messages per run, quorum queues, batches of \(batchSize), prefetch \(prefetch)")
print("contract-shaped: the raw relay of 530-byte messages with a page's properties, through a topic exchange, from a queue declared as the incidents queue")
print("broker: \(configuration.endpointDescription)")
var raws: [Measurement] = []
var contractShaped: [Measurement] = []
var adapters: [Measurement] = []
for round in 1...rounds {
    let raw = try await measureRaw(round: round)
    raws.append(raw)
    let adapter = try await measureAdapter(round: round)
    adapters.append(adapter)
    let contract = try await measureRaw(round: round, shape: .contract)
    contractShaped.append(contract)
    print(
        String(
            format: "round %d: raw rabbitmq-c %.0f msg/s (%.1f µs CPU/msg), adapter %.0f msg/s (%.1f µs CPU/msg), ratio %.1f%%; contract-shaped raw %.0f msg/s",
            round, raw.rate, raw.cpuMicrosecondsPerMessage, adapter.rate, adapter.cpuMicrosecondsPerMessage,
            adapter.rate / raw.rate * 100, contract.rate))
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
/// "<rate> msg/s, <client> µs client CPU per message[, <broker> µs broker CPU per message]"
func summary(_ runs: [Measurement]) -> String {
    let broker = runs.compactMap(\.brokerMicrosecondsPerMessage)
    return String(format: "%.0f msg/s, %.1f µs client CPU per message", median(runs.map(\.rate)), median(runs.map(\.cpuMicrosecondsPerMessage)))
        + (broker.isEmpty ? "" : String(format: ", %.1f µs broker CPU per message", median(broker)))
}
let rawRate = median(raws.map(\.rate))
let adapterRate = median(adapters.map(\.rate))
print("median raw rabbitmq-c relay: " + summary(raws))
print(String(format: "median adapter relay:        %.0f msg/s, %.1f µs client CPU per message", adapterRate, median(adapters.map(\.cpuMicrosecondsPerMessage))))
print(String(format: "ratio adapter/raw: %.1f%% (goal: at least 90%%)", adapterRate / rawRate * 100))
print("median contract-shaped raw relay: " + summary(contractShaped))
