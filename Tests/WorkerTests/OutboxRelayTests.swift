import AMQP
import CallTree
import Foundation
import IncidentStore
import IncidentStoreSQLite
import Logging
import ServiceLifecycleTestKit
import Synchronization
import Testing
import WireContract

@testable import Worker

/// The outbox relay against a real SQLite store and a publisher that answers as the broker
/// would, so that refusals can be chosen: what gets published, in which order, and what is
/// marked.
@Suite("Publishing the outbox")
struct OutboxRelayTests {
    /// Confirms every message except those whose id it refuses (returned as unroutable), and
    /// records every id it was handed, in order.
    final class ScriptedPublisher: AMQPPublishing {
        let refused: Set<String>
        private let handed = Mutex<[String]>([])

        init(refusing refused: Set<String> = []) {
            self.refused = refused
        }

        var publishedIDs: [String] { handed.withLock { $0 } }

        func publish(_ messages: [OutboundMessage]) async throws(AMQPError) -> [PublishOutcome] {
            try await submit(messages).outcomes()
        }

        /// Settled at once, in the order handed over, like the broker's confirms on one channel.
        func submit(_ messages: [OutboundMessage]) -> PublishReceipt {
            handed.withLock { $0 += messages.map { $0.properties.messageID ?? "" } }
            let receipt = PublishReceipt()
            receipt.settle(
                .success(
                    messages.map {
                        refused.contains($0.properties.messageID ?? "")
                            ? .returned(replyCode: 312, replyText: "NO_ROUTE") : .confirmed
                    }))
            return receipt
        }
    }

    /// The SQLite store, counting the relay's reads, and able to claim that its sequences do not
    /// follow commits (as PostgreSQL's do not).
    final class ObservedStore: IncidentStore {
        let base: SQLiteIncidentStore
        let outboxSequencesFollowCommits: Bool
        /// Whether the relay is given the rows just committed (`writtenOutbox`); otherwise it
        /// reads every row, and the reads counted here are all of its reads.
        let handsOverWrittenRows: Bool
        private let readsAfter = Mutex<[Int64]>([])

        init(_ base: SQLiteIncidentStore, sequencesFollowCommits: Bool = true, handsOverWrittenRows: Bool = false) {
            self.base = base
            outboxSequencesFollowCommits = sequencesFollowCommits
            self.handsOverWrittenRows = handsOverWrittenRows
        }

        func writtenOutbox(after: Int64, limit: Int) -> [OutboxRecord]? {
            handsOverWrittenRows ? base.writtenOutbox(after: after, limit: limit) : nil
        }

        var outboxReads: Int { readsAfter.withLock { $0.count } }
        /// The sequence each read of the outbox started after, in order.
        var outboxReadsAfter: [Int64] { readsAfter.withLock { $0 } }

        func unpublishedOutbox(after: Int64, limit: Int, othersWrittenBefore: Timestamp) async throws -> [OutboxRecord] {
            readsAfter.withLock { $0.append(after) }
            return try await base.unpublishedOutbox(after: after, limit: limit, othersWrittenBefore: othersWrittenBefore)
        }

        func outboxTakeoverBaseline() -> Int { base.outboxTakeoverBaseline() }
        func outboxTakeovers(since baseline: Int) -> Set<IncidentID> { base.outboxTakeovers(since: baseline) }
        func apply(batch: [ApplyRequest]) async throws -> [Result<ApplyOutcome, any Error>] { try await base.apply(batch: batch) }
        func prepare(_ batch: [ApplyRequest]) async throws -> [ApplyRequest] { try await base.prepare(batch) }
        func claimDueTimes(now: Timestamp, lease: Duration, limit: Int) async throws -> [DueClaim] {
            try await base.claimDueTimes(now: now, lease: lease, limit: limit)
        }
        func completeDueTime(_ claim: DueClaim) async throws -> Bool { try await base.completeDueTime(claim) }
        func releaseDueTime(_ claim: DueClaim) async throws -> Bool { try await base.releaseDueTime(claim) }
        func nextDueAt() async throws -> Timestamp? { try await base.nextDueAt() }
        func dueTimes(of incident: IncidentID) async throws -> [ScheduledDueTime] { try await base.dueTimes(of: incident) }
        /// While held, marks wait for `releaseMarks()`, as behind a busy writer.
        private let heldMarks = Mutex<[CheckedContinuation<Void, Never>]?>(nil)
        func holdMarks() { heldMarks.withLock { $0 = [] } }
        var marksWaiting: Int { heldMarks.withLock { $0?.count ?? 0 } }
        func releaseMarks() {
            let waiting = heldMarks.withLock { held in
                defer { held = nil }
                return held ?? []
            }
            for mark in waiting { mark.resume() }
        }

        func markPublished(_ sequences: [Int64], at: Timestamp) async throws {
            await withCheckedContinuation { mark in
                let held = heldMarks.withLock { held in
                    held?.append(mark)
                    return held != nil
                }
                if !held { mark.resume() }
            }
            try await base.markPublished(sequences, at: at)
        }
        func incident(_ lookup: IncidentLookup) async throws -> StoredIncident? { try await base.incident(lookup) }
        func openIncidents() async throws -> [StoredIncident] { try await base.openIncidents() }
        func recentIncidents(limit: Int) async throws -> [StoredIncident] { try await base.recentIncidents(limit: limit) }
        func timeline(of incident: IncidentID) async throws -> [TimelineRecord] { try await base.timeline(of: incident) }
        func parcels(of incident: IncidentID) async throws -> [AffectedParcel] { try await base.parcels(of: incident) }
        func ackStatistics(_ query: AckStatisticsQuery) async throws -> [AckStatistic] { try await base.ackStatistics(query) }
        func prune(resolvedBefore: Timestamp) async throws -> PruneSummary { try await base.prune(resolvedBefore: resolvedBefore) }
    }

    let store: SQLiteIncidentStore
    let processor = EscalationProcessor(
        renderer: EscalationProcessorTests.renderer, signer: PageTokenSigner(secret: Array("test secret".utf8)))

    init() throws {
        store = try .temporary("relay")
    }

    /// Opens `count` incidents on the sample plan: pages and a status update each.
    func writeIncidents(_ count: Int, numberedFrom first: Int = 0, by writer: (any IncidentStore)? = nil) async throws
        -> [OutboxRecord]
    {
        let writer = writer ?? store
        for n in first..<first + count {
            let body = IncidentEventBody(
                eventID: "evt-\(n)", action: .trigger, incidentKey: "key-\(n)", type: "warehouse-fire", severity: 3,
                title: "Fire \(n)", occurredAt: "2026-11-29T08:15:00+08:00", affected: nil, drill: false)
            let message = try IncidentMessage(bytes: WireJSON.encode(body), knownTypes: processor.knownTypes)
            _ = try await writer.apply(processor.request(for: message, at: EscalationProcessorTests.start))
        }
        return try await store.unpublishedOutbox(limit: 10_000)
    }

    func runRelay(
        _ publisher: ScriptedPublisher, on store: (any IncidentStore)? = nil, batchSize: Int = 4,
        until done: @escaping @Sendable () async throws -> Bool
    ) async throws {
        let relay = OutboxRelay(
            store: store ?? self.store, publisher: publisher, clock: SystemWallClock(), doorbell: Doorbell(), batchSize: batchSize,
            pollInterval: .milliseconds(50), logger: Logger(label: "test"))
        let running = Task { try await relay.run() }
        defer { running.cancel() }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try await done() { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        running.cancel()
        _ = await running.result
    }

    @Test("Every row is published once, in the order it was written, and marked published")
    func publishesInOrderAndMarks() async throws {
        let rows = try await writeIncidents(6)
        #expect(rows.count > 8)  // more than two rounds of 4
        let publisher = ScriptedPublisher()
        let observed = ObservedStore(store)
        let store = store
        try await runRelay(publisher, on: observed) { try await store.unpublishedOutbox(limit: 100).isEmpty }
        #expect(try await store.unpublishedOutbox(limit: 100).isEmpty)
        #expect(publisher.publishedIDs == rows.map(\.message.messageID))
        // SQLite numbers rows in commit order: the relay reads on past the rounds in flight.
        #expect(observed.outboxReadsAfter.contains { $0 > 0 })
    }

    @Test("A message the broker does not take is tried again with backoff while the others go out")
    func anUndeliverableMessageHoldsNothingUp() async throws {
        let rows = try await writeIncidents(6)
        let stuck = rows[1].message.messageID
        let publisher = ScriptedPublisher(refusing: [stuck])
        let store = store
        try await runRelay(publisher) {
            let unpublished = try await store.unpublishedOutbox(limit: 100).map(\.message.messageID)
            return publisher.publishedIDs.filter { $0 == stuck }.count >= 3 && unpublished == [stuck]
        }
        let unpublished = try await store.unpublishedOutbox(limit: 100)
        #expect(unpublished.map(\.message.messageID) == [stuck])
        // Tried again, and every other row went out exactly once, in order.
        #expect(publisher.publishedIDs.filter { $0 == stuck }.count >= 3)
        let others = publisher.publishedIDs.filter { $0 != stuck }
        #expect(others == rows.map(\.message.messageID).filter { $0 != stuck })
    }

    @Test("Where sequences do not follow commits, every round reads from the start, and each row still goes out once, in order")
    func readsFromTheStartWhereSequencesDoNotFollowCommits() async throws {
        let rows = try await writeIncidents(6)
        let publisher = ScriptedPublisher()
        let observed = ObservedStore(store, sequencesFollowCommits: false)
        let store = store
        try await runRelay(publisher, on: observed) { try await store.unpublishedOutbox(limit: 100).isEmpty }
        #expect(try await store.unpublishedOutbox(limit: 100).isEmpty)
        #expect(publisher.publishedIDs == rows.map(\.message.messageID))
        #expect(observed.outboxReadsAfter.count > 2)
        #expect(observed.outboxReadsAfter.allSatisfy { $0 == 0 })
    }

    /// A clock the test moves.
    final class MovableClock: WallClock {
        private let time: Mutex<Timestamp>
        init(_ start: Timestamp) { time = Mutex(start) }
        func now() -> Timestamp { time.withLock { $0 } }
        func move(to later: Timestamp) { time.withLock { $0 = later } }
    }

    @Test("Another worker's messages are left to it, and published once they are older than the takeover")
    func anotherWorkersMessagesAreTakenOverOnceOld() async throws {
        let rows = try await writeIncidents(3)
        // A second worker opening the same file: the rows are the first one's.
        let other = ObservedStore(try SQLiteIncidentStore(configuration: store.configuration, logger: Logger(label: "test")))
        let clock = MovableClock(EscalationProcessorTests.start + .seconds(4))
        let publisher = ScriptedPublisher()
        let relay = OutboxRelay(
            store: other, publisher: publisher, clock: clock, doorbell: Doorbell(), batchSize: 4,
            pollInterval: .milliseconds(20), takeover: .seconds(5), logger: Logger(label: "test"))
        let running = Task { try await relay.run() }
        defer { running.cancel() }
        // Several reads from the start while the rows are 4 s old: none is taken.
        let deadline = ContinuousClock.now + .seconds(10)
        while other.outboxReads < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(other.outboxReadsAfter.prefix(3) == [0, 0, 0])
        #expect(publisher.publishedIDs.isEmpty)
        clock.move(to: EscalationProcessorTests.start + .seconds(6))
        let store = store
        while try await !store.unpublishedOutbox(limit: 100).isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        running.cancel()
        _ = await running.result
        #expect(publisher.publishedIDs == rows.map(\.message.messageID))
    }

    @Test("An incident this worker takes over keeps its order: its earlier rows, behind the relay's cursor, go out first")
    func anIncidentTakenOverKeepsItsOrder() async throws {
        // The first worker opens X; the second opens Y, and its relay publishes Y's rows and
        // reads on past X's, which are not its own. A long poll interval keeps it reading on.
        let x = try await writeIncidents(1)
        let other = try SQLiteIncidentStore(configuration: store.configuration, logger: Logger(label: "test"))
        let y = try await writeIncidents(1, numberedFrom: 1, by: other).filter { $0.incident != x[0].incident }
        let publisher = ScriptedPublisher()
        let doorbell = Doorbell()
        let relay = OutboxRelay(
            store: other, publisher: publisher, clock: MovableClock(EscalationProcessorTests.start), doorbell: doorbell,
            batchSize: 64, pollInterval: .seconds(30), logger: Logger(label: "test"))
        let running = Task { try await relay.run() }
        defer { running.cancel() }
        let deadline = ContinuousClock.now + .seconds(10)
        while publisher.publishedIDs.count < y.count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(publisher.publishedIDs == y.map(\.message.messageID))

        // The second worker fires X's first timeout: X, and its rows behind the cursor, are its own.
        let start = EscalationProcessorTests.start
        let claims = try await other.claimDueTimes(now: start + .seconds(3600), lease: .seconds(60), limit: 10)
        let claim = try #require(claims.first { $0.incident == x[0].incident })
        _ = try await other.apply(processor.request(for: claim, at: start + .seconds(3600)))
        doorbell.ring()
        let xIDs = Set(x.map(\.message.messageID))
        func publishedAfterY() -> ArraySlice<String> { publisher.publishedIDs.dropFirst(y.count) }
        while ContinuousClock.now < deadline, !(xIDs.isSubset(of: publishedAfterY()) && publishedAfterY().count > x.count) {
            try await Task.sleep(for: .milliseconds(10))
        }
        running.cancel()
        _ = await running.result
        let published = publishedAfterY()
        #expect(Array(published.prefix(x.count)) == x.map(\.message.messageID), "\(published)")
        #expect(published.count > x.count)
    }

    @Test("Rows this worker just committed go out in order without being read back from the outbox")
    func committedRowsAreHandedOver() async throws {
        let rows = try await writeIncidents(12)
        let publisher = ScriptedPublisher()
        let observed = ObservedStore(store, handsOverWrittenRows: true)
        let relay = OutboxRelay(
            store: observed, publisher: publisher, clock: SystemWallClock(), doorbell: Doorbell(), batchSize: 4,
            pollInterval: .seconds(5), logger: Logger(label: "test"))
        let running = Task { try await relay.run() }
        let deadline = ContinuousClock.now + .seconds(10)
        while publisher.publishedIDs.count < rows.count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        running.cancel()
        _ = await running.result
        #expect(publisher.publishedIDs == rows.map(\.message.messageID))
        // One read from the start takes the first round and the store hands over the rest: no
        // read in between, only once everything was taken (while the last rounds are confirmed).
        // Read round by round, it would be one read after each round's last row.
        let rounds = (rows.count + 3) / 4
        #expect(rounds >= 6)
        let readsAfter = observed.outboxReadsAfter
        #expect(readsAfter.first == 0)
        #expect(readsAfter.allSatisfy { $0 == 0 || $0 == rows.last?.sequence }, "reads after \(readsAfter), \(rounds) rounds")
    }

    @Test("While a mark waits for the store, the idle relay does not read the outbox every millisecond")
    func anIdleRelayWaitsForTheMarkUnderWay() async throws {
        _ = try await writeIncidents(1)
        let publisher = ScriptedPublisher(refusing: [])
        let observed = ObservedStore(store)
        observed.holdMarks()
        let doorbell = Doorbell()
        let relay = OutboxRelay(
            store: observed, publisher: publisher, clock: SystemWallClock(), doorbell: doorbell, batchSize: 4,
            pollInterval: .seconds(5), logger: Logger(label: "test"))
        let running = Task { try await relay.run() }
        defer { running.cancel() }
        let deadline = ContinuousClock.now + .seconds(10)
        while observed.marksWaiting == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(observed.marksWaiting == 1)
        // More rows go out and are confirmed while that mark waits: their marks are due, and wait.
        let published = publisher.publishedIDs.count
        _ = try await writeIncidents(3)
        doorbell.ring()
        while publisher.publishedIDs.count == published, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(100))
        let before = observed.outboxReads
        try await Task.sleep(for: .milliseconds(300))
        #expect(observed.outboxReads - before <= 5, "\(observed.outboxReads - before) reads in 300 ms")
        observed.releaseMarks()
        running.cancel()
        _ = await running.result
    }

    @Test("A held-back row that another worker published is forgotten: the idle relay reads only at its poll interval, and stops at once")
    func aRowPublishedElsewhereIsForgotten() async throws {
        let rows = try await writeIncidents(2)
        let stuck = rows[0]
        let publisher = ScriptedPublisher(refusing: [stuck.message.messageID])
        let observed = ObservedStore(store)
        let relay = OutboxRelay(
            store: observed, publisher: publisher, clock: SystemWallClock(), doorbell: Doorbell(), batchSize: 4,
            pollInterval: .milliseconds(100), drainTimeout: .seconds(30), logger: Logger(label: "test"))
        try await testGracefulShutdown { shutdown in
            let running = Task { try await relay.run() }
            // Everything else goes out; the refused row is held back.
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline,
                try await store.unpublishedOutbox(limit: 100).map(\.message.messageID) != [stuck.message.messageID]
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            // Another worker gets it through.
            try await store.markPublished([stuck.sequence], at: EscalationProcessorTests.start)
            try await Task.sleep(for: .milliseconds(300))
            let before = observed.outboxReads
            try await Task.sleep(for: .milliseconds(500))
            // Idle: a pass every poll interval (100 ms), not a read every millisecond.
            #expect(observed.outboxReads - before <= 15)
            let stopping = ContinuousClock.now
            shutdown.triggerGracefulShutdown()
            try await running.value
            #expect(ContinuousClock.now - stopping < .seconds(5))
        }
    }
}
