import CallTree
import Foundation
import IncidentStore
import IncidentStoreSQLite
import Logging
import Rendering
import ServiceLifecycleTestKit
import Synchronization
import Testing
import WireContract

@testable import Worker

/// The due-time sweep against a real SQLite store, with the clock held still: many incidents'
/// first steps time out at once, more than one batch's worth, as after a burst of incidents.
@Suite("Firing due times")
struct DueTimeSweepTests {
    static let plan = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/e2e-plan.yaml").path
    static let renderer = try! Renderer.load(contentsOf: plan)
    static let start = Timestamp(secondsSinceEpoch: 1_795_911_300)
    /// Step 1 (Operator one) times out after the plan's default of 2 s; step 2 two seconds later.
    static let stepOneDue = start + .seconds(2)
    static let stepTwoDue = stepOneDue + .seconds(2)

    struct StillClock: WallClock {
        let time: Timestamp
        func now() -> Timestamp { time }
    }

    let processor = EscalationProcessor(renderer: Self.renderer, signer: PageTokenSigner(secret: Array("test secret".utf8)))
    let store: SQLiteIncidentStore

    init() throws {
        store = try .temporary("sweep")
    }

    /// Opens `count` incidents at `start`, each paging Operations' first step.
    func openIncidents(_ count: Int) async throws -> [IncidentID] {
        var opened: [IncidentID] = []
        for first in stride(from: 0, to: count, by: 100) {
            let requests = try (first..<min(first + 100, count)).map { index in
                let body = IncidentEventBody(
                    eventID: "evt-\(index)", action: .trigger, incidentKey: "hub-\(index)", type: "warehouse-fire", severity: 3,
                    title: "Fire at hub \(index)", occurredAt: "2026-11-29T08:15:00Z")
                let message = try IncidentMessage(bytes: WireJSON.encode(body), knownTypes: processor.knownTypes)
                return processor.request(for: message, at: Self.start)
            }
            for result in try await store.apply(batch: requests) {
                guard case .success(.applied(let applied)) = result, let incident = applied.incident else {
                    Issue.record("a trigger was not applied: \(result)")
                    continue
                }
                opened.append(incident)
            }
        }
        return opened
    }

    func makeSweep(batchSize: Int, applied: @escaping @Sendable () -> Void = {}) -> DueTimeSweep {
        DueTimeSweep(
            store: store, processor: processor, clock: StillClock(time: Self.stepOneDue), doorbell: Doorbell(),
            interval: .seconds(1), lease: .seconds(30), batchSize: batchSize, retention: .seconds(30 * 86_400),
            logger: Logger(label: "test"), applied: applied)
    }

    /// Every incident's due times: (when, claimed?) each.
    func dueTimes(_ incidents: [IncidentID]) async throws -> [[ScheduledDueTime]] {
        var all: [[ScheduledDueTime]] = []
        for incident in incidents { all.append(try await store.dueTimes(of: incident)) }
        return all
    }

    @Test("a backlog of due times larger than a batch fires once each, and none stays claimed")
    func backlogFiresOnce() async throws {
        let incidents = try await openIncidents(300)
        try await testGracefulShutdown { shutdown in
            let sweep = makeSweep(batchSize: 32)
            let running = Task { try await sweep.run() }
            let deadline = ContinuousClock.now + .seconds(30)
            while let next = try await store.nextDueAt(), next <= Self.stepOneDue, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            shutdown.triggerGracefulShutdown()
            try await running.value
        }
        // Each incident escalated to step 2 exactly once: its one due time is now step 2's.
        for (incident, due) in zip(incidents, try await dueTimes(incidents)) {
            #expect(due.map(\.at) == [Self.stepTwoDue], "incident \(incident)")
            #expect(due.allSatisfy { $0.claimedUntil == nil }, "incident \(incident)")
        }
    }

    @Test("a sweep shut down in the middle of a backlog leaves nothing claimed to wait for its lease")
    func shutdownLeavesNothingClaimed() async throws {
        let incidents = try await openIncidents(300)
        try await testGracefulShutdown { shutdown in
            // Stops after the first batch is written: the next one is claimed by then.
            let sweep = makeSweep(batchSize: 32) { shutdown.triggerGracefulShutdown() }
            try await sweep.run()
        }
        let due = try await dueTimes(incidents).joined()
        #expect(due.allSatisfy { $0.claimedUntil == nil }, "a claim left behind delays its due time by the lease")
        let fired = due.filter { $0.at == Self.stepTwoDue }.count
        #expect(fired >= 32 && fired < 300, "the sweep stopped within the backlog (\(fired) fired)")
    }
}
