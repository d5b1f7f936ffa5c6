// StoreBenchmark: events applied per second to the SQLite store and, when a server is given, to
// the PostgreSQL store in the same run: a mix of triggers (each opens an incident, pages,
// schedules a due time, publishes a status update) and acks (each stops an escalation), one
// transaction per event versus batches of events in one transaction.
//
//     swift run -c release StoreBenchmark [EVENTS] [BATCH] [ROUNDS] [--postgres URL]
//
// Defaults: 4000 events, batches of 64, best of 3 rounds (the machine is shared: the best round
// is the least disturbed). Files go to a temporary folder, removed afterwards. PostgreSQL runs
// when `--postgres URL` or ESCALATOR_TEST_POSTGRES_URL names a server; each round uses a schema
// of its own, dropped afterwards, with the store's production settings (database clock).
import CallTree
import Foundation
import IncidentStore
import IncidentStoreFixtures
import IncidentStorePostgres
import IncidentStoreSQLite
import Logging
import PostgresNIO
import ProcessTimes

var arguments = CommandLine.arguments
var postgresURL = ProcessInfo.processInfo.environment["ESCALATOR_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
if let option = arguments.firstIndex(of: "--postgres"), option + 1 < arguments.count {
    postgresURL = arguments[option + 1]
    arguments.removeSubrange(option...(option + 1))
}
let events = arguments.count > 1 ? Int(arguments[1]) ?? 4000 : 4000
let batchSize = arguments.count > 2 ? Int(arguments[2]) ?? 64 : 64
let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 3 : 3
let worker = FixtureWorker()
let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)

/// Event n: triggers alternate with acks of the incident triggered 16 triggers earlier.
func requests(count: Int) -> [ApplyRequest] {
    var requests: [ApplyRequest] = []
    var triggered = 0
    while requests.count < count {
        let n = triggered
        let at = t0 + .milliseconds(Int64(requests.count))
        requests.append(
            worker.trigger(messageID: "incident:t\(n)", key: "key-\(n)", incident: IncidentID("inc-\(n)"), at: at))
        triggered += 1
        if n >= 16, requests.count < count {
            let incident = IncidentID("inc-\(n - 16)")
            let page = PageID(
                incident: incident, department: FixturePlan.operations, position: StepPosition(round: 1, step: 1),
                contact: FixturePlan.lee)
            requests.append(worker.reply(messageID: "reply:a\(n - 16)", page: page, contact: FixturePlan.lee, at: at))
        }
    }
    return requests
}

/// Events per second (wall clock) and CPU microseconds per event (all threads of the process),
/// the best of `rounds`.
struct Figures {
    var eventsPerSecond = 0.0
    var cpuMicrosecondsPerEvent = Double.infinity
}

/// The store a round measures.
enum Backend {
    case sqlite(SQLiteIncidentStoreConfiguration.Durability)
    case postgres(PostgresIncidentStoreConfiguration)
}

func best(batch: Int, _ backend: Backend) async throws -> Figures {
    var best = Figures()
    for _ in 0..<max(1, rounds) {
        let figures: Figures
        switch backend {
        case .sqlite(let durability): figures = try await measureSQLite(batch: batch, durability: durability)
        case .postgres(let configuration): figures = try await measurePostgres(batch: batch, configuration)
        }
        best.eventsPerSecond = max(best.eventsPerSecond, figures.eventsPerSecond)
        best.cpuMicrosecondsPerEvent = min(best.cpuMicrosecondsPerEvent, figures.cpuMicrosecondsPerEvent)
    }
    return best
}

func measureSQLite(batch: Int, durability: SQLiteIncidentStoreConfiguration.Durability) async throws -> Figures {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("store-benchmark-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let store = try SQLiteIncidentStore(
        configuration: SQLiteIncidentStoreConfiguration(
            path: folder.appendingPathComponent("bench.sqlite").path, durability: durability),
        logger: Logger(label: "store-benchmark"))
    return try await measure(store, batch: batch)
}

let logger = Logger(label: "store-benchmark")

func measurePostgres(batch: Int, _ base: PostgresIncidentStoreConfiguration) async throws -> Figures {
    var configuration = base
    configuration.schema = "store_benchmark_" + UUID().uuidString.prefix(8).lowercased()
    let figures = try await PostgresIncidentStore.withStore(configuration: configuration, logger: logger) { store in
        try await measure(store, batch: batch)
    }
    try await dropSchema(configuration)
    return figures
}

/// One direct connection to the benchmark's server, for `body`.
func withServer<Result>(
    _ configuration: PostgresIncidentStoreConfiguration,
    _ body: (PostgresConnection) async throws -> Result
) async throws -> Result {
    let connection = try await PostgresConnection.connect(
        configuration: PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: .disable),
        id: 1, logger: logger)
    do {
        let result = try await body(connection)
        try? await connection.close()
        return result
    } catch {
        try? await connection.close()
        throw error
    }
}

func dropSchema(_ configuration: PostgresIncidentStoreConfiguration) async throws {
    _ = try await withServer(configuration) { connection in
        try await connection.query("DROP SCHEMA \(unescaped: configuration.schema) CASCADE", logger: logger)
    }
}

/// The server's settings that decide what a commit costs.
func serverDurability(_ configuration: PostgresIncidentStoreConfiguration) async throws -> String {
    try await withServer(configuration) { connection in
        var settings: [String] = []
        for name in ["fsync", "synchronous_commit"] {
            let rows = try await connection.query("SELECT current_setting(\(name))", logger: logger).collect()
            settings.append("\(name)=\(try rows[0].decode(String.self))")
        }
        return settings.joined(separator: " ")
    }
}

func measure(_ store: any IncidentStore, batch: Int) async throws -> Figures {
    let all = requests(count: events)
    let clock = ContinuousClock()
    var applied = 0
    let cpuBefore = cpuSecondsOfThisProcess()
    let elapsed = try await clock.measure {
        var start = 0
        while start < all.count {
            let end = min(start + batch, all.count)
            for result in try await store.apply(batch: Array(all[start..<end])) {
                if case .applied = try result.get() { applied += 1 }
            }
            start = end
        }
    }
    let cpu = cpuSecondsOfThisProcess() - cpuBefore
    precondition(applied == all.count, "only \(applied) of \(all.count) events applied")
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Figures(eventsPerSecond: Double(all.count) / seconds, cpuMicrosecondsPerEvent: cpu * 1e6 / Double(all.count))
}

func column(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

var backends: [(store: String, settings: String, backend: Backend)] = [
    ("SQLite", "synchronous=FULL", .sqlite(.full)), ("SQLite", "synchronous=NORMAL", .sqlite(.normal)),
]
if let postgresURL {
    let configuration = try PostgresIncidentStoreConfiguration(url: postgresURL)
    backends.append(("PostgreSQL", try await serverDurability(configuration), .postgres(configuration)))
}
print("Incident stores, \(events) events (trigger + ack mix), best of \(rounds) rounds")
if postgresURL == nil { print("(PostgreSQL skipped: give --postgres URL or set ESCALATOR_TEST_POSTGRES_URL)") }
print("store       settings                                transaction         events/s  CPU µs/event")
for (name, settings, backend) in backends {
    let single = try await best(batch: 1, backend)
    let batched = try await best(batch: batchSize, backend)
    for (transaction, figures) in [("one per event", single), ("\(batchSize) per batch", batched)] {
        print(
            name.padding(toLength: 12, withPad: " ", startingAt: 0)
                + settings.padding(toLength: 40, withPad: " ", startingAt: 0)
                + transaction.padding(toLength: 16, withPad: " ", startingAt: 0)
                + column(String(Int(figures.eventsPerSecond.rounded())), 12)
                + column(String(Int(figures.cpuMicrosecondsPerEvent.rounded())), 14))
    }
    print("  batched / one per event: \(String(format: "%.1f", batched.eventsPerSecond / single.eventsPerSecond))x")
}
