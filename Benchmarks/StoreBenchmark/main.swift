// StoreBenchmark: events applied per second to the SQLite store, a mix of triggers (each opens
// an incident, pages, schedules a due time, publishes a status update) and acks (each stops an
// escalation), one transaction per event versus batches of events in one transaction.
//
//     swift run -c release StoreBenchmark [EVENTS] [BATCH] [ROUNDS]
//
// Defaults: 4000 events, batches of 64, best of 3 rounds (the machine is shared: the best round
// is the least disturbed). Files go to a temporary folder, removed afterwards.
import CallTree
import Foundation
import IncidentStore
import IncidentStoreFixtures
import IncidentStoreSQLite
import Logging

let arguments = CommandLine.arguments
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

func best(batch: Int, durability: SQLiteIncidentStoreConfiguration.Durability) async throws -> Figures {
    var best = Figures()
    for _ in 0..<max(1, rounds) {
        let figures = try await measure(batch: batch, durability: durability)
        best.eventsPerSecond = max(best.eventsPerSecond, figures.eventsPerSecond)
        best.cpuMicrosecondsPerEvent = min(best.cpuMicrosecondsPerEvent, figures.cpuMicrosecondsPerEvent)
    }
    return best
}

func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func measure(batch: Int, durability: SQLiteIncidentStoreConfiguration.Durability) async throws -> Figures {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("store-benchmark-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let store = try SQLiteIncidentStore(
        configuration: SQLiteIncidentStoreConfiguration(
            path: folder.appendingPathComponent("bench.sqlite").path, durability: durability),
        logger: Logger(label: "store-benchmark"))
    let all = requests(count: events)
    let clock = ContinuousClock()
    var applied = 0
    let cpuBefore = processCPUSeconds()
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
    let cpu = processCPUSeconds() - cpuBefore
    precondition(applied == all.count, "only \(applied) of \(all.count) events applied")
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Figures(eventsPerSecond: Double(all.count) / seconds, cpuMicrosecondsPerEvent: cpu * 1e6 / Double(all.count))
}

func column(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

print("SQLite incident store, \(events) events (trigger + ack mix), best of \(rounds) rounds")
print("durability  transaction         events/s  CPU µs/event")
for durability in [SQLiteIncidentStoreConfiguration.Durability.full, .normal] {
    let single = try await best(batch: 1, durability: durability)
    let batched = try await best(batch: batchSize, durability: durability)
    for (name, figures) in [("one per event", single), ("\(batchSize) per batch", batched)] {
        print(
            durability.rawValue.lowercased().padding(toLength: 12, withPad: " ", startingAt: 0)
                + name.padding(toLength: 16, withPad: " ", startingAt: 0)
                + column(String(Int(figures.eventsPerSecond.rounded())), 12)
                + column(String(Int(figures.cpuMicrosecondsPerEvent.rounded())), 14))
    }
    print("  batched / one per event: \(String(format: "%.1f", batched.eventsPerSecond / single.eventsPerSecond))x")
}
