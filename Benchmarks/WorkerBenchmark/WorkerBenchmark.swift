// End to end (issue #6): one `escalator worker` process (release build; SQLite store, or the
// PostgreSQL database at ESCALATOR_BENCHMARK_POSTGRES_URL, a schema per phase) against the
// broker at ESCALATOR_AMQP_URL (scripts/benchmark-worker starts a private one). Five phases in
// one run, then the figures against their goals:
//
// 0. backlog: ESCALATOR_BENCHMARK_BACKLOG triggers (default 10000; 0 skips it) queued before a
//    worker starts, their pages and status updates left in a quorum queue nobody consumes: the
//    conditions of the raw relay below, for a like-for-like ratio (Backlog.swift). Timed from the
//    first trigger the worker takes to the last output queued. That worker and its store are
//    then stopped; the phases below run on a fresh worker and store.
// 1. paced: ESCALATOR_BENCHMARK_PACED_RATE incidents/s (default 1000) for
//    ESCALATOR_BENCHMARK_PACED_SECONDS (default 5); trigger → first page latency. Their steps
//    wait 10 minutes, so these incidents stay open and escalating for the rest of the run.
// 2. full speed: ESCALATOR_BENCHMARK_INCIDENTS triggers (default 10000) published as fast as
//    confirms allow; incidents/s, messages in + out per second, trigger → first page latency.
// 3. timers: each of those incidents' step 1 times out 5 s after its first page: lateness of
//    every step-2 page against its due time. They come due as fast as the worker took their
//    incidents in at full speed, and firing a timeout costs about what taking in a trigger does:
//    whatever the worker's speed, this phase fires timers at its full load, and measures how
//    late they get there (no goal: at full load every message queues for the two cores).
// 4. steady timers: with every incident of the phases before still open and escalating (their
//    next steps wait 10 minutes), ESCALATOR_BENCHMARK_STEADY_RATE incidents/s (default 200) for
//    ESCALATOR_BENCHMARK_STEADY_SECONDS (default 5) whose step 1 times out after 2 s: timers
//    firing at a steady rate among many open escalations, and their lateness: the goal's case
//    (p99 ≤ 100 ms with 10,000 escalations open).
//
// Around them, the raw rabbitmq-c relay of Benchmarks/AMQPRelayBenchmark on the same broker,
// before and after, for the ratio worker ÷ relay, with the broker's CPU per message in each (in
// the worker's run every message is also published or consumed by this benchmark; in the
// relay's, nobody consumes the sink). No timing is asserted anywhere.
//
// ESCALATOR_BENCHMARK_ONLY_BACKLOG=1 runs phase 0 alone (after the relay) and prints its figures.
//
// ESCALATOR_BENCHMARK_WORKERS (default 1) runs that many workers side by side on the same queues
// and store; their CPU is summed, and the output line says how many messages went out again
// (left out of every figure).
import AMQP
import EscalatorProcessFixtures
import Foundation
import Logging
import ProcessTimes
import RawAMQP
import Worker

@main
enum WorkerBenchmark {
    static func main() async {
        do {
            if CommandLine.arguments.dropFirst().first == "stages" {
                try await Stages.run()
                return
            }
            try await run()
        } catch {
            say("error: \(error)")
            exit(1)
        }
    }

    static let logger: Logger = {
        var logger = Logger(label: "escalator.worker-benchmark")
        logger.logLevel = .warning
        return logger
    }()

    /// Step 2's timeout in the benchmark plan: a step-2 page's ack_deadline minus this is the
    /// moment the sweep fired step 1's due time.
    static let stepTwoTimeoutMilliseconds: Int64 = 600_000

    static func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func setting(_ name: String, _ fallback: Int) -> Int { Int(environment[name] ?? "") ?? fallback }
        let url = environment["ESCALATOR_AMQP_URL"] ?? environment["ESCALATOR_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5682/%2F"
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let escalator = environment["ESCALATOR_EXECUTABLE"] ?? products.appendingPathComponent("escalator").path
        let relayBenchmark = environment["ESCALATOR_RELAY_BENCHMARK"] ?? products.appendingPathComponent("AMQPRelayBenchmark").path
        let plan = environment["ESCALATOR_BENCHMARK_PLAN"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("benchmark-plan.yaml").path
        let burst = setting("ESCALATOR_BENCHMARK_INCIDENTS", 10_000)
        let pacedRate = setting("ESCALATOR_BENCHMARK_PACED_RATE", 1000)
        let pacedCount = pacedRate * setting("ESCALATOR_BENCHMARK_PACED_SECONDS", 5)
        let steadyRate = setting("ESCALATOR_BENCHMARK_STEADY_RATE", 200)
        let steadyCount = steadyRate * setting("ESCALATOR_BENCHMARK_STEADY_SECONDS", 5)
        let relayMessages = setting("ESCALATOR_BENCHMARK_RELAY_MESSAGES", 20_000)
        let batchSize = setting("ESCALATOR_BENCHMARK_BATCH", 100)
        let workerCount = max(1, setting("ESCALATOR_BENCHMARK_WORKERS", 1))
        let lanes = setting("ESCALATOR_BENCHMARK_LANES", 8)
        let backlog = setting("ESCALATOR_BENCHMARK_BACKLOG", 10_000)
        // Phase 0 alone, for quick comparisons of two builds (ESCALATOR_EXECUTABLE).
        let onlyBacklog = setting("ESCALATOR_BENCHMARK_ONLY_BACKLOG", 0) != 0
        let postgres = environment["ESCALATOR_BENCHMARK_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let storeKind = postgres == nil ? "SQLite store" : "PostgreSQL store"
        let brokerPID = Int32(environment["ESCALATOR_BENCHMARK_BROKER_PID"] ?? "")
        guard FileManager.default.isExecutableFile(atPath: escalator) else {
            throw BenchmarkError("no escalator executable at \(escalator); build it with swift build -c release --product escalator")
        }

        say("Worker benchmark (issue #6): \(burst) incidents at full speed, \(pacedRate)/s paced for \(pacedCount) incidents")
        say("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; load average at start \(loadAverage())")
        say("worker: \(escalator); plan: \(plan)")
        let loadAtStart = loadAverage()

        // The relay floor on this broker, before the worker runs.
        var relayRuns: [RelayFigures] = []
        if FileManager.default.isExecutableFile(atPath: relayBenchmark) {
            let rates = try await runRelayBenchmark(executable: relayBenchmark, url: url, messages: relayMessages)
            relayRuns.append(rates)
            say("relay before: " + rates.summary(messages: relayMessages))
        } else {
            say("relay: no AMQPRelayBenchmark at \(relayBenchmark); the ratio is not measured")
        }

        // A world of its own on the broker: prefixed names, a fresh store, a watcher on the output.
        let names = EscalatorNames.prefixed("bench.\(UInt32.random(in: 0...UInt32.max)).")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("escalator-worker-benchmark-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let amqp = try AMQPConfiguration(url: url, connectionName: "worker benchmark")
        let publisher = AMQPPublisher(configuration: amqp, logger: logger)

        // Phase 0, before any worker runs: the backlog's triggers wait in the incidents queue.
        let sink = names.incidentsQueue + ".backlog-sink"
        if backlog > 0 {
            try await Backlog.sinkTopology(names: names, sink: sink).declare(using: amqp, logger: logger)
            _ = try await publishAtFullSpeed(
                makeTriggers(prefix: "backlog", type: Backlog.type, count: backlog, exchange: names.incidentsExchange),
                publisher: publisher, batchSize: 1000, lanes: 1)
        }

        var workerEnvironment = environment
        workerEnvironment["ESCALATOR_AMQP_URL"] = url
        workerEnvironment["ESCALATOR_PLAN"] = plan
        workerEnvironment["ESCALATOR_SECRET"] = "worker benchmark secret"
        workerEnvironment["ESCALATOR_SECRET_FILE"] = ""
        workerEnvironment["ESCALATOR_LOG_LEVEL"] = environment["ESCALATOR_BENCHMARK_WORKER_LOG_LEVEL"] ?? "info"
        workerEnvironment.merge(names.workerEnvironment) { $1 }
        /// A fresh store per phase: a SQLite file, or a schema of its own on the PostgreSQL database
        /// at ESCALATOR_BENCHMARK_POSTGRES_URL.
        let run = names.incidentsQueue.split(separator: ".").dropFirst().first.map(String.init) ?? "run"
        func store(_ name: String) -> String {
            guard let postgres else { return folder.appendingPathComponent("\(name).sqlite").path }
            return "\(postgres)\(postgres.contains("?") ? "&" : "?")schema=bench_\(run)_\(name)"
        }
        /// Several workers share the queues and the store, as ops scale out (ESCALATOR_BENCHMARK_WORKERS).
        func startWorkers(_ name: String) throws -> (processes: [WorkerProcess], logs: [URL]) {
            var environment = workerEnvironment
            environment["ESCALATOR_STORE"] = store(name)
            let logs = (0..<workerCount).map { folder.appendingPathComponent(workerCount == 1 ? "\(name).log" : "\(name)-\($0 + 1).log") }
            let processes = try logs.map { try WorkerProcess(executable: escalator, environment: environment, log: $0) }
            for (worker, log) in zip(processes, logs) {
                say("worker pid \(worker.pid), log \(log.path), store \(store(name))")
            }
            return (processes, logs)
        }
        func logTail(_ log: URL) -> String {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return "worker log (tail):\n" + text.split(separator: "\n").suffix(20).joined(separator: "\n")
        }
        /// SIGTERM drains; a worker still running after 20 s is killed. Their exit statuses.
        func stop(_ workers: [WorkerProcess]) async -> [Int32?] {
            var statuses: [Int32?] = []
            for worker in workers {
                let status = await worker.terminate(timeout: .seconds(20))
                if status == nil { await worker.kill() }
                statuses.append(status)
            }
            return statuses
        }

        func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
        func micros(_ value: Double?) -> String { value.map { String(format: "%.1f µs", $0) } ?? "?" }
        /// The goal's ratio: worker messages in + out per second ÷ the relay's messages per second,
        /// a relay's rate counted as messages relayed (as RABBITMQ-C.md and the relay benchmark
        /// count it). In brackets, ÷ the relay's messages in + out, each relayed message counted
        /// twice as the worker's are: the stricter reading.
        func ratios(_ perSecond: Double, relayed: Double) -> String {
            String(format: "%.3f  (÷ relay in + out/s: %.3f)", perSecond / relayed, perSecond / (2 * relayed))
        }
        /// CPU per message of the workers, the broker and, when there is one, the PostgreSQL server.
        func cpu(worker: Double?, broker: Double?, database: Double?) -> String {
            "worker \(micros(worker)), broker \(micros(broker))"
                + (CPUReading.databasePID == nil ? "" : ", PostgreSQL \(micros(database))")
        }
        func row(_ figure: String, _ value: String, _ goal: String) {
            say(figure.padding(toLength: 58, withPad: " ", startingAt: 0) + " " + value.padding(toLength: 54, withPad: " ", startingAt: 0) + " " + goal)
        }
        /// The backlog phase's figures, against the relay runs so far.
        func sayBacklog(_ window: (start: CPUReading, end: CPUReading)) {
            let (start, end) = window
            let seconds = Double(end.at - start.at) / 1e9
            let messagesPerSecond = Double(3 * backlog) / seconds
            func perMessage(_ end: Double?, _ start: Double?) -> Double? {
                guard let end, let start else { return nil }
                return (end - start) / Double(3 * backlog) * 1e6
            }
            say("like the relay: \(backlog) triggers queued before the worker started; their pages and status updates left in a quorum queue")
            row("  incidents/s (first trigger taken → last output queued)", String(format: "%.0f/s over %.2f s", Double(backlog) / seconds, seconds), "")
            row("  worker messages in + out /s", String(format: "%.0f/s (%d in, %d out)", messagesPerSecond, backlog, 2 * backlog), "")
            if let relayRaw = mean(relayRuns.map(\.raw)) {
                row("  ratio worker (in + out)/s ÷ relay relayed/s", ratios(messagesPerSecond, relayed: relayRaw), "≥ 0.5")
            }
            if let relayContract = mean(relayRuns.compactMap(\.contractShaped)) {
                row("  … ÷ contract-shaped relay relayed/s", ratios(messagesPerSecond, relayed: relayContract), "")
            }
            row(
                "  CPU per message in or out",
                cpu(worker: perMessage(end.worker, start.worker), broker: perMessage(end.broker, start.broker),
                    database: perMessage(end.database, start.database)), "")
        }

        // Phase 0: workers of their own, on a store of their own, drain the backlog. Timed from
        // the first trigger they take to the last output in the sink, as the relay is timed, from
        // both queues' depths: the end is seen within 20 ms. Then they stop, and the phases after
        // start from a fresh worker and store, as they did before this phase existed.
        var backlogWindow: (start: CPUReading, end: CPUReading)?
        var backlogExitStatuses: [Int32?] = []
        if backlog > 0 {
            // The relay run before and the prefill leave the broker compacting its queues' logs.
            await waitUntilQuiet(broker: brokerPID)
            let (backlogWorkers, logs) = try startWorkers("backlog")
            let pids = backlogWorkers.map(\.pid)
            let depths = try RawConnection(amqp, name: "backlog watcher")
            defer { depths.close() }
            let deadline = ContinuousClock.now + .seconds(120 + backlog / 50)
            var start: CPUReading?
            while backlogWindow == nil {
                if start == nil, try depths.readyMessages(in: names.incidentsQueue) < backlog {
                    start = CPUReading.take(workers: pids, broker: brokerPID)
                }
                if let start, try depths.readyMessages(in: sink) >= 2 * backlog {
                    backlogWindow = (start, CPUReading.take(workers: pids, broker: brokerPID))
                }
                guard ContinuousClock.now < deadline else {
                    throw BenchmarkError("the backlog's pages and status updates did not all arrive\n" + logTail(logs[0]))
                }
                // Each look costs the broker a little: often while it cannot count, rarely when it does.
                try await Task.sleep(for: .milliseconds(start == nil ? 2 : 20))
            }
            backlogExitStatuses = await stop(backlogWorkers)
            depths.deleteQueue(sink)
            // The broker goes on compacting both queues' logs for a while; the paced phase's
            // latency is measured once it is done, not beside it.
            await waitUntilQuiet(broker: brokerPID)
        }
        if onlyBacklog, let backlogWindow {
            say("")
            say("== Worker benchmark, backlog only: \(backlog) triggers, \(workerCount == 1 ? "one worker" : "\(workerCount) workers"), \(storeKind) ==")
            row("figure", "value", "goal")
            sayBacklog(backlogWindow)
            say("worker exit status " + backlogExitStatuses.map { $0.map { "\($0)" } ?? "killed" }.joined(separator: ", "))
            await publisher.close()
            return
        }

        let (workers, workerLogs) = try startWorkers("store")
        let workerPIDs = workers.map(\.pid)

        // The phases after it watch every output as it arrives.
        let collector = try await Collector(names: names, configuration: amqp, logger: logger)
        func failure(_ what: String) -> BenchmarkError {
            BenchmarkError("\(what)\ncounts: \(collector.counts)\n" + logTail(workerLogs[0]))
        }

        // Warm-up: the worker is up once it has paged one incident.
        _ = try await publishAtFullSpeed(
            makeTriggers(prefix: "warmup", type: "paced", count: 1, exchange: names.incidentsExchange),
            publisher: publisher, batchSize: 1, lanes: 1)
        guard await collector.wait(for: 1, of: "page.sms.paced-desk", timeout: .seconds(120)) else {
            throw failure("the worker did not page the warm-up incident within 120 s")
        }

        // Phase 1: paced.
        let pacedMessages = try makeTriggers(prefix: "paced", type: "paced", count: pacedCount, exchange: names.incidentsExchange)
        let pacedCPUStart = CPUReading.take(workers: workerPIDs, broker: brokerPID)
        let pacedStamps = try await publishPaced(pacedMessages, publisher: publisher, rate: pacedRate)
        let pacedPublished = wallNanoseconds()
        guard await collector.wait(for: pacedCount + 1, of: "page.sms.paced-desk", timeout: .seconds(120 + pacedCount / 100)) else {
            throw failure("the paced phase's first pages did not all arrive")
        }
        let pacedCPUEnd = CPUReading.take(workers: workerPIDs, broker: brokerPID)
        let pacedArrivals = firstArrivals(collector.arrivals, routingKey: "page.sms.paced-desk", prefix: "paced", count: pacedCount)
        let pacedLatency = Percentiles(latencies(pacedArrivals, stamps: pacedStamps))
        let pacedAchieved = Double(pacedCount) / (Double(pacedPublished - pacedStamps.min()!) / 1e9)

        // Phase 2 (and 3 within it): full speed, timers firing while the burst is taken in.
        let burstMessages = try makeTriggers(prefix: "load", type: "load", count: burst, exchange: names.incidentsExchange)
        let burstCPUStart = CPUReading.take(workers: workerPIDs, broker: brokerPID)
        let burstStamps = try await publishAtFullSpeed(burstMessages, publisher: publisher, batchSize: batchSize, lanes: lanes)
        let acceptedAt = wallNanoseconds()
        guard await collector.wait(for: burst, of: "page.sms.load-desk", timeout: .seconds(120 + burst / 50)) else {
            throw failure("the burst's first pages did not all arrive")
        }
        let burstCPU = CPUReading.take(workers: workerPIDs, broker: brokerPID)
        guard await collector.wait(for: burst, of: "page.im.load-desk", timeout: .seconds(120 + burst / 50)) else {
            throw failure("the burst's step-2 pages did not all arrive")
        }
        // The last status updates of step 2 trail its pages by a relay batch at most.
        try await Task.sleep(for: .seconds(2))
        let timersCPU = CPUReading.take(workers: workerPIDs, broker: brokerPID)

        // Phase 4: steady timers among every escalation opened so far.
        let openBeforeSteady = pacedCount + 1 + burst
        let steadyStart = wallNanoseconds()
        let steadyMessages = try makeTriggers(prefix: "steady", type: "steady", count: steadyCount, exchange: names.incidentsExchange)
        let steadyStamps = try await publishPaced(steadyMessages, publisher: publisher, rate: steadyRate)
        guard await collector.wait(for: steadyCount, of: "page.im.steady-desk", timeout: .seconds(120 + steadyCount / 50)) else {
            throw failure("the steady phase's step-2 pages did not all arrive")
        }
        try await Task.sleep(for: .seconds(1))
        let steadyCPU = CPUReading.take(workers: workerPIDs, broker: brokerPID)
        let exitStatuses = await stop(workers)
        await publisher.close()
        let arrivals = collector.arrivals
        let duplicates = collector.duplicates
        let finalCounts = collector.counts
        await collector.close()

        if FileManager.default.isExecutableFile(atPath: relayBenchmark) {
            let rates = try await runRelayBenchmark(executable: relayBenchmark, url: url, messages: relayMessages)
            relayRuns.append(rates)
            say("relay after:  " + rates.summary(messages: relayMessages))
        }

        // The figures.
        let t0 = burstStamps.min()!
        let firstPages = firstArrivals(arrivals, routingKey: "page.sms.load-desk", prefix: "load", count: burst)
        let secondPages = firstArrivals(arrivals, routingKey: "page.im.load-desk", prefix: "load", count: burst)
        let firstPagesDone = firstPages.compactMap { $0?.at }.max()!
        let burstSeconds = Double(firstPagesDone - t0) / 1e9
        let incidentsPerSecond = Double(burst) / burstSeconds
        let acceptedPerSecond = Double(burst) / (Double(acceptedAt - t0) / 1e9)
        let outInBurst = arrivals.filter { $0.at >= t0 && $0.at <= firstPagesDone }.count
        let messagesPerSecond = Double(burst + outInBurst) / burstSeconds
        let lastArrival = arrivals.map(\.at).filter { $0 < steadyStart }.max()!
        let outWhole = arrivals.filter { $0.at >= t0 && $0.at < steadyStart }.count
        let wholeSeconds = Double(lastArrival - t0) / 1e9
        let burstLatency = Percentiles(latencies(firstPages, stamps: burstStamps))

        let burstTimers = timersFired(first: firstPages, second: secondPages)
        let arrivalLate = Percentiles(burstTimers.map(\.arrivalLateness))
        let firingLate = Percentiles(burstTimers.map(\.firingLateness))
        let firedDuringIntake = burstTimers.filter { $0.firedAt * 1_000_000 < firstPagesDone }.count
        let steadyFirst = firstArrivals(arrivals, routingKey: "page.sms.steady-desk", prefix: "steady", count: steadyCount)
        let steadySecond = firstArrivals(arrivals, routingKey: "page.im.steady-desk", prefix: "steady", count: steadyCount)
        let steadyTimers = timersFired(first: steadyFirst, second: steadySecond)
        let steadyLate = Percentiles(steadyTimers.map(\.arrivalLateness))
        let steadyFiringLate = Percentiles(steadyTimers.map(\.firingLateness))
        let steadyFirstPage = Percentiles(latencies(steadyFirst, stamps: steadyStamps))
        let relayRaw = mean(relayRuns.map(\.raw))
        let relayContract = mean(relayRuns.compactMap(\.contractShaped))
        // Per message in or out: a relayed message is one of each.
        let relayClientCPU = mean(relayRuns.compactMap(\.rawClientMicroseconds)).map { $0 / 2 }
        let relayBrokerCPU = mean(relayRuns.compactMap(\.rawBrokerMicroseconds)).map { $0 / 2 }
        let messagesInBurstCPU = burst + arrivals.filter { $0.at >= burstCPUStart.at && $0.at <= burstCPU.at }.count
        func microsecondsPerMessage(_ end: Double?, _ start: Double?) -> Double? {
            guard let end, let start else { return nil }
            return (end - start) / Double(messagesInBurstCPU) * 1e6
        }
        let workerCPU = microsecondsPerMessage(burstCPU.worker, burstCPUStart.worker)
        let brokerCPU = microsecondsPerMessage(burstCPU.broker, burstCPUStart.broker)
        let databaseCPU = microsecondsPerMessage(burstCPU.database, burstCPUStart.database)
        let deadLetters = arrivals.filter { $0.exchange == names.deadLetterExchange }.count

        say("")
        say("== Worker benchmark: \(burst) incidents at full speed, \(pacedCount) paced at \(pacedRate)/s, \(workerCount == 1 ? "one worker" : "\(workerCount) workers"), \(storeKind) ==")
        say("load average: \(loadAtStart) at start, \(loadAverage()) at end (2 cores shared with other builds)")
        row("figure", "value", "goal")
        if let backlogWindow { sayBacklog(backlogWindow) }
        say("live: this benchmark publishes every trigger and consumes every output meanwhile, on the same broker and cores")
        row("triggers accepted (confirmed) per second", String(format: "%.0f/s", acceptedPerSecond), "")
        row("incidents/s (first publish → last first page)", String(format: "%.0f/s over %.1f s", incidentsPerSecond, burstSeconds), "")
        row(
            "worker messages in + out /s (same window)",
            String(format: "%.0f/s (%d in, %d out)", messagesPerSecond, burst, outInBurst), "")
        row(
            "  … until the last step-2 message",
            String(format: "%.0f/s (%d in, %d out in %.1f s)", Double(burst + outWhole) / wholeSeconds, burst, outWhole, wholeSeconds), "")
        if let relayRaw {
            row("raw rabbitmq-c relay msgs/s (relayed; ×2 = in + out)", String(format: "%.0f/s (%.0f in + out)", relayRaw, 2 * relayRaw), "")
            row(
                "ratio worker (in + out)/s ÷ relay relayed/s",
                ratios(messagesPerSecond, relayed: relayRaw), "≥ 0.5")
        } else {
            row("ratio worker ÷ relay", "not measured", "≥ 0.5")
        }
        if let relayContract {
            row(
                "contract-shaped raw relay msgs/s (relayed)",
                String(format: "%.0f/s, ", relayContract)
                    + "broker \(micros(mean(relayRuns.compactMap(\.contractShapedBrokerMicroseconds)).map { $0 / 2 })) per message in or out", "")
            row(
                "  ratio worker (in + out)/s ÷ its relayed/s",
                ratios(messagesPerSecond, relayed: relayContract), "")
        }
        row(
            "CPU per message in or out, full-speed phase",
            cpu(worker: workerCPU, broker: brokerCPU, database: databaseCPU), "")
        row("  raw relay, same broker", "client \(micros(relayClientCPU)), broker \(micros(relayBrokerCPU))", "")
        row("first page latency, full speed", burstLatency.summary, "")
        row(String(format: "first page latency, paced (achieved %.0f/s)", pacedAchieved), pacedLatency.summary, "p99 ≤ 20 ms at 1,000/s")
        row("open escalations when step-1 timers fired (peak)", "\(pacedCount + 1 + burst) (\(firedDuringIntake) of \(burst) fired during intake)", "")
        row("step-1 timers: came due / fired, per second", rates(of: burstTimers), "")
        // Timers due as fast as the worker can fire them: how lateness grows at full load. The
        // goal is for timers among many open escalations (the steady rows), as paging latency's
        // is at 1,000 incidents/s rather than at full speed.
        row("timer lateness: step-2 page arrival − due (incl. relay)", arrivalLate.summary, "full load: no goal")
        row("timer lateness: sweep firing − due (worker's clock)", firingLate.summary, "")
        row(
            String(format: "steady timers: %d/s for %d incidents, %d open", steadyRate, steadyCount, openBeforeSteady + steadyCount),
            "", "≥ 10,000 open")
        row("  step-2 page arrival − due (incl. relay)", steadyLate.summary, "p99 ≤ 100 ms")
        row("  sweep firing − due (worker's clock)", steadyFiringLate.summary, "")
        row("  first page latency", steadyFirstPage.summary, "")
        say("")
        say("CPU, paced phase:      \(pacedCPUEnd.spent(since: pacedCPUStart))")
        say(pacedCPUEnd.threads(since: pacedCPUStart))
        say("CPU, full-speed phase: \(burstCPU.spent(since: burstCPUStart))")
        say(burstCPU.threads(since: burstCPUStart))
        say("CPU, timers to the end: \(timersCPU.spent(since: burstCPU))")
        say(timersCPU.threads(since: burstCPU))
        say("CPU, steady timers:    \(steadyCPU.spent(since: timersCPU))")
        say(
            "output counted: \(arrivals.count) messages, and \(duplicates) published again under a message id already seen; "
                + "dead letters \(deadLetters); worker exit status "
                + (backlogExitStatuses + exitStatuses).map { $0.map { "\($0)" } ?? "killed" }.joined(separator: ", "))
        say("by routing key: " + finalCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        let missing = firstPages.filter { $0 == nil }.count + secondPages.filter { $0 == nil }.count
        if missing > 0 { say("warning: \(missing) pages could not be matched to their incident") }
    }

    /// Until the broker uses under a tenth of a core for a second (at most 30 s).
    static func waitUntilQuiet(broker: Int32?) async {
        guard let broker else { return }
        let deadline = ContinuousClock.now + .seconds(30)
        var previous = cpuSeconds(ofProcess: broker)
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .seconds(1))
            let now = cpuSeconds(ofProcess: broker)
            if let now, let before = previous, now - before < 0.1 { return }
            previous = now
        }
    }

    struct Seen {
        let at: Int64
        let facts: PageFacts
    }

    /// The first arrival of each incident's page under `routingKey`, by incident index.
    static func firstArrivals(_ arrivals: [Collector.Arrival], routingKey: String, prefix: String, count: Int) -> [Seen?] {
        var seen = [Seen?](repeating: nil, count: count)
        for arrival in arrivals where arrival.routingKey == routingKey {
            guard let facts = PageFacts(arrival.body), let index = incidentIndex(ofKey: facts.incidentKey, prefix: prefix), index < count,
                seen[index] == nil
            else { continue }
            seen[index] = Seen(at: arrival.at, facts: facts)
        }
        return seen
    }

    /// A step-1 timeout, read from its incident's pages: due at the step-1 page's ack deadline,
    /// fired when the step-2 page says (its deadline less step 2's timeout), seen on arrival.
    struct TimerFired {
        let firedAt: Int64
        let arrivalLateness: Double
        let firingLateness: Double
    }

    static func timersFired(first: [Seen?], second: [Seen?]) -> [TimerFired] {
        zip(first, second).compactMap { first, second in
            guard let first, let second else { return nil }
            let due = first.facts.ackDeadlineMilliseconds
            let fired = second.facts.ackDeadlineMilliseconds - stepTwoTimeoutMilliseconds
            return TimerFired(
                firedAt: fired, arrivalLateness: Double(second.at) / 1e6 - Double(due), firingLateness: Double(fired - due))
        }
    }

    /// How fast the timers came due (as fast as their incidents were taken in) and how fast the
    /// worker fired them: firing slower than they come due makes every later one later still.
    static func rates(of timers: [TimerFired]) -> String {
        func perSecond(_ milliseconds: [Int64]) -> String {
            guard let first = milliseconds.min(), let last = milliseconds.max(), last > first else { return "?" }
            return String(format: "%.0f/s", Double(milliseconds.count) / (Double(last - first) / 1000))
        }
        let due = timers.map { $0.firedAt - Int64($0.firingLateness) }
        return "\(perSecond(due)) / \(perSecond(timers.map(\.firedAt))) (n=\(timers.count))"
    }

    /// Milliseconds from each incident's publish to its first page.
    static func latencies(_ seen: [Seen?], stamps: [Int64]) -> [Double] {
        zip(seen, stamps).compactMap { page, stamp in page.map { Double($0.at - stamp) / 1e6 } }
    }
}
