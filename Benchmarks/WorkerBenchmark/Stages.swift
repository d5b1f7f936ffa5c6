// `WorkerBenchmark stages`: where one worker's time per incident goes, without a broker. The
// stages of a trigger and of its first timeout, each timed alone on one thread against a SQLite
// store in a temporary folder: contract decoding, the transition (call tree, rendering, encoding,
// signing), the store's read ahead (`prepare`) and its write (`apply`) one message per
// transaction and in batches. Figures in CPU microseconds per incident; nothing is asserted.
// ESCALATOR_BENCHMARK_DURABILITY (FULL, the default, or NORMAL) and ESCALATOR_BENCHMARK_CHECKPOINT_MS
// (200) set the store's sync and checkpoint interval, to see what the disk costs the write.
import CallTree
import Foundation
import IncidentStore
import IncidentStoreSQLite
import Logging
import ProcessTimes
import Rendering
import WireContract
import Worker

enum Stages {
    static func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let count = Int(environment["ESCALATOR_BENCHMARK_INCIDENTS"] ?? "") ?? 4000
        let plan = environment["ESCALATOR_BENCHMARK_PLAN"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("benchmark-plan.yaml").path
        let processor = EscalationProcessor(
            renderer: try Renderer.load(contentsOf: plan), signer: PageTokenSigner(secret: Array("stages".utf8)))
        say("Worker stages: \(count) load incidents (trigger, then step 1 timing out), one thread, SQLite with full sync")

        let bodies = try (0..<count).map { n in
            try WireJSON.encode(
                IncidentEventBody(
                    eventID: "stage-\(n)", action: .trigger, incidentKey: "stage-key-\(n)", type: "load", severity: 2,
                    title: "Stage incident \(n)", occurredAt: "2026-11-29T08:15:00Z", affected: nil, drill: false))
        }
        let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)

        var messages: [IncidentMessage] = []
        let decode = measure(count) {
            messages = bodies.map { try! IncidentMessage(bytes: $0, knownTypes: processor.knownTypes) }
        }
        let requests = messages.map { processor.request(for: $0, at: t0) }
        let transition = measure(count) {
            for request in requests { _ = try! request.transition(TransitionInput(incident: nil)) }
        }
        let state = requests.compactMap { try? $0.transition(TransitionInput(incident: nil)).state }
        // The texts of each trigger's page and status update, rendered alone.
        let renderings = messages.map { message -> (Page, StatusUpdate, IncidentState)? in
            var machine = IncidentStateMachine(plan: processor.plan)
            let actions = machine.handle(message.event(opening: IncidentID("stage")), at: t0)
            let page = actions.lazy.compactMap { if case .page(let page) = $0 { page } else { nil } }.first
            let update = actions.lazy.compactMap { if case .publishStatus(let update) = $0 { update } else { nil } }.first
            guard let page, let update, let incident = machine.state else { return nil }
            return (page, update, incident)
        }.compactMap { $0 }
        let render = measure(count) {
            for (page, update, incident) in renderings {
                _ = processor.renderer.render(page, incident: incident, at: t0)
                _ = processor.renderer.render(update, incident: incident)
            }
        }
        let encodeState = measure(count) {
            for state in state { _ = try! state.storedJSON(message: "m") }
        }

        let batches = (environment["ESCALATOR_BENCHMARK_BATCHES"] ?? "1,64").split(separator: ",").compactMap { Int($0) }
        for batch in batches {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("escalator-stages-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: folder) }
            let store = try SQLiteIncidentStore(
                configuration: SQLiteIncidentStoreConfiguration(
                    path: folder.appendingPathComponent("s.sqlite").path,
                    durability: environment["ESCALATOR_BENCHMARK_DURABILITY"].flatMap { .init(rawValue: $0.uppercased()) } ?? .full,
                    checkpointInterval: .milliseconds(Int(environment["ESCALATOR_BENCHMARK_CHECKPOINT_MS"] ?? "") ?? 200)),
                logger: Logger(label: "stages"))
            var prepared: [ApplyRequest] = []
            let prepare = try await measureAsync(count) {
                for start in stride(from: 0, to: count, by: batch) {
                    prepared += try await store.prepare(Array(requests[start..<min(count, start + batch)]))
                }
            }
            let apply = try await measureAsync(count) {
                for start in stride(from: 0, to: count, by: batch) {
                    _ = try await store.apply(batch: Array(prepared[start..<min(count, start + batch)]))
                }
            }
            // Every step 1 times out: claims, then the timeouts prepared and written.
            let due = t0 + .seconds(5)
            var claims: [DueClaim] = []
            let claim = try await measureAsync(count) {
                while true {
                    let more = try await store.claimDueTimes(now: due, lease: .seconds(30), limit: batch)
                    if more.isEmpty { break }
                    claims += more
                }
            }
            let timeouts = claims.map { processor.request(for: $0, at: due) }
            var preparedTimeouts: [ApplyRequest] = []
            let prepareTimeouts = try await measureAsync(count) {
                for start in stride(from: 0, to: timeouts.count, by: batch) {
                    preparedTimeouts += try await store.prepare(Array(timeouts[start..<min(timeouts.count, start + batch)]))
                }
            }
            let applyTimeouts = try await measureAsync(count) {
                for start in stride(from: 0, to: preparedTimeouts.count, by: batch) {
                    _ = try await store.apply(batch: Array(preparedTimeouts[start..<min(preparedTimeouts.count, start + batch)]))
                }
            }
            let rows = try await store.unpublishedOutbox(limit: 1_000_000)
            let read = try await measureAsync(count) {
                for start in stride(from: 0, to: rows.count, by: 256) {
                    _ = try await store.unpublishedOutbox(
                        after: rows[start].sequence - 1, limit: 256, othersWrittenBefore: due - .seconds(5))
                }
            }
            let mark = try await measureAsync(count) {
                for start in stride(from: 0, to: rows.count, by: 256) {
                    try await store.markPublished(rows[start..<min(rows.count, start + 256)].map(\.sequence), at: due)
                }
            }
            say("")
            say("store, \(batch) message(s) per transaction (CPU µs per incident):")
            say(String(format: "  trigger:  prepare %7.1f   apply %7.1f", prepare, apply))
            say(String(format: "  timeout:  claim   %7.1f   prepare %7.1f   apply %7.1f", claim, prepareTimeouts, applyTimeouts))
            say(String(format: "  outbox:   read (256 a time) %7.1f   mark published %7.1f  (%d rows)", read, mark, rows.count))
        }
        say("")
        say("in the trigger's prepare (CPU µs per incident):")
        say(String(format: "  incident.v1 decode and validate %7.1f", decode))
        say(String(format: "  transition (call tree, render, encode, sign) %7.1f", transition))
        say(String(format: "  of which encoding the stored state %7.1f", encodeState))
        say(String(format: "  of which rendering the page's and the status update's texts %7.1f", render))
    }

    /// CPU microseconds of this process per item (every thread: the store's queues included);
    /// waiting for the disk is not counted.
    static func measure(_ items: Int, _ body: () -> Void) -> Double {
        let start = cpuMicroseconds()
        body()
        return (cpuMicroseconds() - start) / Double(items)
    }

    static func measureAsync(_ items: Int, _ body: () async throws -> Void) async throws -> Double {
        let start = cpuMicroseconds()
        try await body()
        return (cpuMicroseconds() - start) / Double(items)
    }

    static func cpuMicroseconds() -> Double {
        cpuSecondsOfThisProcess() * 1e6
    }
}
