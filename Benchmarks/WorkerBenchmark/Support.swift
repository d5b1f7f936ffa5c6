import AMQP
import CallTree
import Foundation
import Logging
import ProcessTimes
import Synchronization
import WireContract

/// Wall-clock nanoseconds since 1970: the worker writes `ack_deadline` in wall-clock time, and
/// both processes run on this host, so arrivals, publishes and due times share one clock.
func wallNanoseconds() -> Int64 {
    Int64(Date().timeIntervalSince1970 * 1e9)
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Percentiles of a sample, nearest rank; sorting is fine at these sizes.
struct Percentiles {
    let count: Int
    private let sorted: [Double]

    init(_ values: [Double]) {
        sorted = values.sorted()
        count = values.count
    }

    func value(_ percentile: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((percentile / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }

    var max: Double? { sorted.last }

    /// "p50 3.1 / p99 12.0 / max 15.2 ms (n=1000)"
    var summary: String {
        guard let p50 = value(50), let p99 = value(99), let max else { return "no samples" }
        return String(format: "p50 %.1f / p99 %.1f / max %.1f ms (n=%d)", p50, p99, max, count)
    }
}

/// The 1-minute load average, as `uptime` shows it.
func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?")
        .split(separator: " ").prefix(3).joined(separator: " ")
}

/// Per thread of a process, from /proc/<pid>/task/*/schedstat: nanoseconds on a CPU, and
/// nanoseconds runnable but waiting for one (on a loaded machine, the share it was denied).
struct ThreadTimes {
    struct Thread {
        var name: String
        var running: Int64
        var waiting: Int64
    }

    var threads: [String: Thread] = [:]

    /// The threads of every process in `pids`.
    static func take(_ pids: [Int32]) -> ThreadTimes {
        var times = ThreadTimes()
        for pid in pids {
            guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { continue }
            for task in tasks {
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/schedstat", encoding: .utf8) else { continue }
                let fields = stat.split(separator: " ").compactMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                guard fields.count >= 2 else { continue }
                let name = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? task
                times.threads["\(pid)/\(task)"] = Thread(name: name, running: fields[0], waiting: fields[1])
            }
        }
        return times
    }

    /// "on a CPU 5.1 s, runnable but waiting for a CPU 3.2 s; busiest threads on a CPU: 'x' 62%, ..."
    func spent(since start: ThreadTimes, wallSeconds: Double) -> String {
        guard !threads.isEmpty else { return "?" }
        var running: Int64 = 0
        var waiting: Int64 = 0
        var deltas: [Thread] = []
        for (task, now) in threads {
            let before = start.threads[task] ?? Thread(name: now.name, running: 0, waiting: 0)
            let delta = Thread(name: now.name, running: now.running - before.running, waiting: now.waiting - before.waiting)
            running += delta.running
            waiting += delta.waiting
            deltas.append(delta)
        }
        // The busiest threads show a stage that runs out of its one thread before the CPUs do.
        let busiest = deltas.sorted { $0.running > $1.running }.prefix(4).map { thread in
            "'\(thread.name)' " + String(format: "%.0f%%", Double(thread.running) / 1e9 / wallSeconds * 100)
        }
        return String(format: "on a CPU %.1f s, runnable but waiting for a CPU %.1f s; ", Double(running) / 1e9, Double(waiting) / 1e9)
            + "busiest threads on a CPU: " + busiest.joined(separator: ", ")
    }
}

/// CPU used by the worker, the broker and this process between two readings.
struct CPUReading {
    var worker: Double?
    var broker: Double?
    /// The PostgreSQL server's, when the workers use one (ESCALATOR_BENCHMARK_DATABASE_PID).
    var database: Double?
    var benchmark: Double
    var at: Int64
    var workerThreads: ThreadTimes
    var brokerThreads: ThreadTimes

    static let databasePID = ProcessInfo.processInfo.environment["ESCALATOR_BENCHMARK_DATABASE_PID"].flatMap { Int32($0) }

    /// The workers' figures are their sum.
    static func take(workers: [Int32], broker: Int32?) -> CPUReading {
        let workerSeconds = workers.compactMap(cpuSeconds(ofProcess:))
        return CPUReading(
            worker: workerSeconds.isEmpty ? nil : workerSeconds.reduce(0, +), broker: broker.flatMap(cpuSeconds(ofProcess:)),
            database: databasePID.flatMap(cpuSeconds(ofProcessAndChildren:)), benchmark: cpuSecondsOfThisProcess(), at: wallNanoseconds(), workerThreads: ThreadTimes.take(workers),
            brokerThreads: ThreadTimes.take(broker.map { [$0] } ?? []))
    }

    /// Where the worker's and the broker's threads spent the time between two readings.
    func threads(since start: CPUReading) -> String {
        let wall = Double(at - start.at) / 1e9
        return "  worker threads: \(workerThreads.spent(since: start.workerThreads, wallSeconds: wall))\n"
            + "  broker threads: \(brokerThreads.spent(since: start.brokerThreads, wallSeconds: wall))"
    }

    /// "worker 3.2 s (80% of a core), broker 2.1 s (52%), benchmark 0.6 s (15%)"
    func spent(since start: CPUReading) -> String {
        let wall = Double(at - start.at) / 1e9
        func part(_ name: String, _ end: Double?, _ begin: Double?) -> String {
            guard let end, let begin else { return "\(name) ?" }
            return name + String(format: " %.1f s (%.0f%% of a core)", end - begin, (end - begin) / wall * 100)
        }
        return ([part("worker", worker, start.worker), part("broker", broker, start.broker)]
            + (Self.databasePID == nil ? [] : [part("PostgreSQL", database, start.database)])
            + [part("benchmark", benchmark, start.benchmark)]).joined(separator: ", ") + String(format: " over %.1f s", wall)
    }
}

/// Binds a queue of its own to everything the worker publishes (pages, notices, status, dead
/// letters) and keeps each message with its arrival time. Bodies are parsed after a phase, not
/// here, so the watcher stays cheap while the worker is measured. A message published again
/// (same `message_id`, as several workers may) is counted apart and left out of every figure.
final class Collector: Sendable {
    struct Arrival: Sendable {
        let at: Int64
        let routingKey: String
        let exchange: String
        let body: [UInt8]
    }

    private struct State {
        var arrivals: [Arrival] = []
        var counts: [String: Int] = [:]
        var messageIDs: Set<String> = []
        var duplicates = 0
    }

    private final class Received: Sendable {
        let state = Mutex(State())
    }

    private let received: Received
    private let consumer: AMQPConsumer
    private let task: Task<Void, Never>

    init(names: EscalatorNames, configuration: AMQPConfiguration, logger: Logger) async throws {
        let queue = names.incidentsQueue + ".benchmark-watcher"
        var topology = Topology.escalator(names)
        topology.queues.append(Topology.Queue(name: queue, durable: false))
        for exchange in [names.pagesExchange, names.noticesExchange, names.statusExchange, names.deadLetterExchange] {
            topology.bindings.append(.init(queue: queue, exchange: exchange, routingKey: "#"))
        }
        try await topology.declare(using: configuration, logger: logger)
        let consumer = AMQPConsumer(configuration: configuration, topology: topology, queue: queue, prefetch: 2000, logger: logger)
        self.consumer = consumer
        let received = Received()
        self.received = received
        task = Task.detached {
            while let batch = try? await consumer.nextBatch(maximumCount: 1000), let last = batch.last {
                let now = wallNanoseconds()
                received.state.withLock { state in
                    for delivery in batch {
                        if let id = delivery.properties.messageID, !state.messageIDs.insert(id).inserted {
                            state.duplicates += 1
                            continue
                        }
                        state.arrivals.append(
                            Arrival(at: now, routingKey: delivery.routingKey, exchange: delivery.exchange, body: delivery.body))
                        state.counts[delivery.routingKey, default: 0] += 1
                    }
                }
                consumer.ack(last, multiple: true)
            }
        }
    }

    func count(_ routingKey: String) -> Int { received.state.withLock { $0.counts[routingKey] ?? 0 } }
    var arrivals: [Arrival] { received.state.withLock { $0.arrivals } }
    var counts: [String: Int] { received.state.withLock { $0.counts } }
    /// Messages that arrived again under a `message_id` already seen.
    var duplicates: Int { received.state.withLock { $0.duplicates } }

    /// Polls until `routingKey` has arrived `count` times; false after `timeout`.
    func wait(for count: Int, of routingKey: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if self.count(routingKey) >= count { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return self.count(routingKey) >= count
    }

    func close() async {
        await consumer.close()
        task.cancel()
    }
}

/// The JSON of a page as the benchmark reads it: its incident key and ack deadline.
struct PageFacts {
    let incidentKey: String
    let ackDeadlineMilliseconds: Int64

    init?(_ body: [UInt8]) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
            let key = object["incident_key"] as? String, let deadline = object["ack_deadline"] as? String,
            let milliseconds = RFC3339.parse(deadline)?.millisecondsSinceEpoch
        else { return nil }
        incidentKey = key
        ackDeadlineMilliseconds = milliseconds
    }
}

/// The raw rabbitmq-c relay of Benchmarks/AMQPRelayBenchmark, run as it is (one round) in a
/// subprocess on the same broker: its median raw, adapter and contract-shaped relay rates in
/// messages per second.
/// What the raw relay printed: relayed messages per second, and CPU time per relayed message
/// (its own, and the broker's when the broker's process is known).
struct RelayFigures {
    var raw: Double
    var adapter: Double
    var rawClientMicroseconds: Double?
    var rawBrokerMicroseconds: Double?
    /// The raw relay of messages shaped as the contract shapes the worker's.
    var contractShaped: Double?
    var contractShapedBrokerMicroseconds: Double?

    /// "raw rabbitmq-c <rate> msg/s, adapter <rate> msg/s, contract-shaped raw <rate> msg/s (<n> messages)"
    func summary(messages: Int) -> String {
        String(
            format: "raw rabbitmq-c %.0f msg/s, adapter %.0f msg/s, contract-shaped raw %.0f msg/s (%d messages)", raw, adapter,
            contractShaped ?? 0, messages)
    }
}

func runRelayBenchmark(executable: String, url: String, messages: Int) async throws -> RelayFigures {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    var environment = ProcessInfo.processInfo.environment
    environment["ESCALATOR_AMQP_URL"] = url
    environment["ESCALATOR_BENCHMARK_MESSAGES"] = String(messages)
    environment["ESCALATOR_BENCHMARK_ROUNDS"] = "1"
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    // Read until end of file on a thread of its own, then reap the process.
    let output: Data = await withCheckedContinuation { continuation in
        Thread {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            continuation.resume(returning: data)
        }.start()
    }
    let text = String(decoding: output, as: UTF8.self)
    /// The number just before `unit` (its words) on the line that starts with `prefix`.
    func figure(_ prefix: String, before unit: String) -> Double? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        let words = line.dropFirst(prefix.count).split(separator: " ").map { $0.trimmingCharacters(in: .punctuationCharacters) }
        let unitWords = unit.split(separator: " ").map(String.init)
        guard let index = words.indices.dropFirst().first(where: { Array(words[$0...].prefix(unitWords.count)) == unitWords }) else {
            return nil
        }
        return Double(words[index - 1])
    }
    let rawLine = "median raw rabbitmq-c relay:"
    guard process.terminationStatus == 0, let raw = figure(rawLine, before: "msg/s"),
        let adapter = figure("median adapter relay:", before: "msg/s")
    else {
        throw BenchmarkError("the relay benchmark failed (status \(process.terminationStatus)):\n\(text)")
    }
    let contractLine = "median contract-shaped raw relay:"
    return RelayFigures(
        raw: raw, adapter: adapter, rawClientMicroseconds: figure(rawLine, before: "µs client CPU"),
        rawBrokerMicroseconds: figure(rawLine, before: "µs broker CPU"), contractShaped: figure(contractLine, before: "msg/s"),
        contractShapedBrokerMicroseconds: figure(contractLine, before: "µs broker CPU"))
}

/// A line on standard output at once, also when it goes to a file (print buffers it there).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
