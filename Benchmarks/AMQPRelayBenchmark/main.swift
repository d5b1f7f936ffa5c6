// Relay throughput on the broker at ESCALATOR_AMQP_URL (scripts/benchmark-amqp starts a private
// one): (a) a raw rabbitmq-c loop, the floor of any worker on this broker, and (b) the same relay
// through the AMQP adapter, in the same process, alternating, on fresh quorum queues per run.
// Persistent 100-byte messages; confirms and acks in batches.
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
let body = [UInt8](repeating: UInt8(ascii: "x"), count: 100)

func queues(_ label: String, _ round: Int) -> (source: String, sink: String, topology: Topology) {
    let source = "bench.\(label).\(round).source"
    let sink = "bench.\(label).\(round).sink"
    let topology = Topology(queues: [
        .init(name: source, arguments: ["x-queue-type": "quorum"]), .init(name: sink, arguments: ["x-queue-type": "quorum"]),
    ])
    return (source, sink, topology)
}

/// Fills `queue` with `count` messages (not timed).
func prefill(_ queue: String, topology: Topology) async throws {
    try await topology.declare(using: configuration, logger: logger)
    let publisher = AMQPPublisher(configuration: configuration, logger: logger)
    for start in stride(from: 0, to: messagesPerRun, by: 1000) {
        let batch = (start..<min(start + 1000, messagesPerRun)).map {
            OutboundMessage(exchange: "", routingKey: queue, body: body, properties: MessageProperties(messageID: "m-\($0)"))
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

func measureRaw(round: Int) async throws -> Measurement {
    let names = queues("raw", round)
    try await prefill(names.source, topology: names.topology)
    let started = ContinuousClock.now
    let cpuStarted = cpuSecondsOfThisProcess()
    let brokerStarted = brokerPID.flatMap(cpuSeconds(ofProcess:))
    // Blocking C calls: on a thread of their own, as a worker would.
    let relayed: Int = try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do {
                let relay = RawRelay(configuration: configuration)
                continuation.resume(
                    returning: try relay.run(source: names.source, sink: names.sink, count: messagesPerRun, prefetch: prefetch, batchSize: batchSize))
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
print("broker: \(configuration.endpointDescription)")
var raws: [Measurement] = []
var adapters: [Measurement] = []
for round in 1...rounds {
    let raw = try await measureRaw(round: round)
    raws.append(raw)
    let adapter = try await measureAdapter(round: round)
    adapters.append(adapter)
    print(
        String(
            format: "round %d: raw rabbitmq-c %.0f msg/s (%.1f µs CPU/msg), adapter %.0f msg/s (%.1f µs CPU/msg), ratio %.1f%%",
            round, raw.rate, raw.cpuMicrosecondsPerMessage, adapter.rate, adapter.cpuMicrosecondsPerMessage,
            adapter.rate / raw.rate * 100))
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
let rawRate = median(raws.map(\.rate))
let adapterRate = median(adapters.map(\.rate))
let brokerCPU = raws.compactMap(\.brokerMicrosecondsPerMessage)
print(
    String(format: "median raw rabbitmq-c relay: %.0f msg/s, %.1f µs client CPU per message", rawRate, median(raws.map(\.cpuMicrosecondsPerMessage)))
        + (brokerCPU.isEmpty ? "" : String(format: ", %.1f µs broker CPU per message", median(brokerCPU))))
print(String(format: "median adapter relay:        %.0f msg/s, %.1f µs client CPU per message", adapterRate, median(adapters.map(\.cpuMicrosecondsPerMessage))))
print(String(format: "ratio adapter/raw: %.1f%% (goal: at least 90%%)", adapterRate / rawRate * 100))
