import CallTree
import Foundation
import Synchronization
import IncidentStore
import IncidentStoreFixtures
import Testing

/// What every `IncidentStore` must do (DESIGN.md, guarantees 1–4). Written against the
/// protocol only, and run for each store in `StoreFactory.all`.
@Suite("Incident store conformance")
struct IncidentStoreConformanceTests {
    let worker = FixtureWorker()
    let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)

    /// When the first step of the fixture's incident times out.
    var step1Deadline: Timestamp { t0 + FixturePlan.stepTimeout }

    /// Opens incident inc-1 with key fire-1 at t0: operations' first step (lee) is paged.
    func openFire1(_ store: any IncidentStore) async throws {
        let outcome = try await store.apply(
            worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0))
        #expect(outcome.applied?.opened == true)
    }

    /// Claims the one due time that is due at `now`.
    func claimOne(_ store: any IncidentStore, at now: Timestamp, lease: Duration = .seconds(30)) async throws -> DueClaim {
        let claims = try await store.claimDueTimes(now: now, lease: lease, limit: 10)
        #expect(claims.count == 1)
        return try #require(claims.first)
    }

    // MARK: Inbox

    @Test("A redelivered message takes effect once", arguments: StoreFactory.all)
    func redeliveredMessageTakesEffectOnce(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let trigger = worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0)
            let first = try await store.apply(trigger)
            #expect(first.applied?.opened == true)
            let timeline = try await store.timeline(of: "inc-1")
            let outbox = try await store.unpublishedOutbox(limit: 100)

            #expect(try await store.apply(trigger) == .alreadyProcessed)
            // In one batch too, and with a different transition under the same id.
            let again = try await store.apply(batch: [
                trigger, worker.resolve(messageID: "incident:e1", key: "fire-1", at: t0 + .seconds(1)),
            ])
            #expect(again.map { try? $0.get() } == [.alreadyProcessed, .alreadyProcessed])

            #expect(try await store.timeline(of: "inc-1") == timeline)
            #expect(try await store.unpublishedOutbox(limit: 100) == outbox)
            let incident = try #require(try await store.incident(.id("inc-1")))
            #expect(incident.version == 1)
            #expect(!incident.isResolved)
        }
    }

    @Test("A redelivered message amid new ones is already processed, and the new ones take effect", arguments: StoreFactory.all)
    func redeliveredMessageAmidNewOnes(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let redelivered = worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0)
            _ = try await store.apply(redelivered)
            let results = try await store.apply(batch: [
                worker.trigger(messageID: "incident:e2", key: "fire-2", incident: "inc-2", at: t0),
                redelivered,
                worker.trigger(messageID: "incident:e3", key: "fire-3", incident: "inc-3", at: t0),
            ]).map { try $0.get() }
            #expect(results[0].applied?.opened == true)
            #expect(results[1] == .alreadyProcessed)
            #expect(results[2].applied?.opened == true)
            #expect(try await store.openIncidents().map(\.id) == ["inc-1", "inc-2", "inc-3"])
            #expect(try await store.incident(.id("inc-1"))?.version == 1)
        }
    }

    @Test(
        "Messages another worker recorded after their batch was prepared are already processed, and the others take effect",
        arguments: StoreFactory.all)
    func messagesRecordedAfterPreparing(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let trigger = worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0)
            let unknownPage = PageID(
                incident: "inc-unknown", department: FixturePlan.operations, position: StepPosition(round: 1, step: 1),
                contact: FixturePlan.lee)
            let reply = worker.reply(messageID: "reply:r1", page: unknownPage, contact: FixturePlan.lee, at: t0)
            let batch = try await store.prepare([
                worker.trigger(messageID: "incident:e2", key: "fire-2", incident: "inc-2", at: t0),
                trigger,
                reply,
                worker.trigger(messageID: "incident:e3", key: "fire-3", incident: "inc-3", at: t0),
            ])
            // Recorded by "another worker" between the batch's read (where SQLite works out the
            // transitions, on a reader) and its write.
            _ = try await store.apply(trigger)
            _ = try await store.apply(reply)
            func pageCount() async throws -> Int {
                try await store.unpublishedOutbox(limit: 1000).filter { $0.message.exchange == "pages" }.count
            }
            let pagesBefore = try await pageCount()

            let results = try await store.apply(batch: batch).map { try $0.get() }
            #expect(results[0].applied?.opened == true)
            #expect(results[1] == .alreadyProcessed)
            #expect(results[2] == .alreadyProcessed)
            #expect(results[3].applied?.opened == true)
            #expect(try await store.incident(.id("inc-1"))?.version == 1)
            #expect(try await store.timeline(of: "inc-1").filter { $0.item.kind == .page }.count == 1)
            #expect(try await pageCount() == pagesBefore + 2)
        }
    }

    @Test("A message for no known incident is recorded as processed and changes nothing", arguments: StoreFactory.all)
    func messageForNoIncident(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let page = PageID(
                incident: "inc-unknown", department: FixturePlan.operations, position: StepPosition(round: 1, step: 1),
                contact: FixturePlan.lee)
            let reply = worker.reply(messageID: "reply:r1", page: page, contact: FixturePlan.lee, at: t0)
            let resolve = worker.resolve(messageID: "incident:e1", key: "never-seen", at: t0)
            for request in [reply, resolve] {
                let outcome = try await store.apply(request)
                #expect(outcome.applied?.incident == nil)
                #expect(try await store.apply(request) == .alreadyProcessed)
            }
            #expect(try await store.openIncidents().isEmpty)
            #expect(try await store.timeline(of: "inc-unknown").isEmpty)
            // Rows other than timeline entries need an incident.
            let orphan = ApplyRequest(messageID: "test:orphan", lookup: .none, at: t0) { _ in
                IncidentChanges(schedule: [DueSchedule(.statusCadence(1), at: t0)])
            }
            let error = await #expect(throws: IncidentStoreError.self) { _ = try await store.apply(orphan) }
            #expect(error?.code == .invalidChanges)
            #expect(try await store.nextDueAt() == nil)
        }
    }

    @Test("A message in a batch sees the messages before it", arguments: StoreFactory.all)
    func batchAppliesInOrder(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let results = try await store.apply(batch: [
                worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0),
                worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0),
                worker.resolve(messageID: "incident:e2", key: "fire-1", at: t0 + .seconds(60)),
            ])
            let outcomes = results.map { try? $0.get() }
            #expect(outcomes[0]?.applied?.opened == true)
            #expect(outcomes[1] == .alreadyProcessed)
            #expect(outcomes[2]?.applied?.version == 2)
            let incident = try #require(try await store.incident(.id("inc-1")))
            #expect(incident.isResolved)
            #expect(try await store.openIncidents().isEmpty)
        }
    }

    @Test(
        "A batch of new messages sees what each before it did: a timeout, a resolve, a reopened key, a new incident's ack",
        arguments: StoreFactory.all)
    func batchOfNewMessagesAppliesInOrder(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            try await openFire1(store)
            let claim = try await claimOne(store, at: step1Deadline)
            let later = step1Deadline + .seconds(60)
            let firstPage = PageID(
                incident: "inc-3", department: FixturePlan.operations, position: StepPosition(round: 1, step: 1),
                contact: FixturePlan.lee)
            let results = try await store.apply(batch: [
                worker.due(claim, at: step1Deadline),
                worker.resolve(messageID: "incident:e2", key: "fire-1", at: later),
                worker.trigger(messageID: "incident:e3", key: "fire-1", incident: "inc-2", at: later + .seconds(1)),
                worker.trigger(
                    messageID: "incident:e4", key: "fire-1", incident: "inc-x", severity: .critical,
                    at: later + .seconds(2)),
                worker.trigger(messageID: "incident:e5", key: "fire-2", incident: "inc-3", at: later + .seconds(3)),
                worker.reply(messageID: "reply:r1", page: firstPage, contact: FixturePlan.lee, at: later + .seconds(4)),
            ])
            let applied = results.map { try? $0.get().applied }
            #expect(applied.map { $0?.incident } == ["inc-1", "inc-1", "inc-2", "inc-2", "inc-3", "inc-3"])
            #expect(applied.map { $0?.opened } == [false, false, true, false, true, false])
            #expect(applied.map { $0?.version } == [2, 3, 1, 2, 1, 2])

            // inc-1 timed out once and resolved: its fired due time and the next step's are gone.
            let kinds = try await store.timeline(of: "inc-1").map(\.item.kind)
            #expect(kinds.filter { $0 == .stepTimedOut }.count == 1)
            #expect(kinds.contains(.resolved))
            #expect(try await store.dueTimes(of: "inc-1").isEmpty)
            #expect(try await store.openIncidents().map(\.id) == ["inc-2", "inc-3"])
            #expect(try await store.incident(.id("inc-2"))?.state.severity == .critical)
            #expect(try await store.incident(.id("inc-x")) == nil)
            #expect(try await store.timeline(of: "inc-3").contains { $0.item.kind == .acknowledged })
        }
    }

    // MARK: Compare-and-set

    @Test("Concurrent writers on one incident lose no update", arguments: StoreFactory.all)
    func concurrentWritersLoseNoUpdate(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            _ = try await store.apply(worker.trigger(messageID: "incident:e0", key: "fire-1", incident: "inc-1", at: t0))
            let before = try #require(try await store.incident(.id("inc-1")))
            let writers = 24
            try await withThrowingTaskGroup(of: ApplyOutcome.self) { group in
                for n in 0..<writers {
                    group.addTask {
                        try await store.applyRetryingConflicts(Self.bump(n, at: t0), attempts: 100)
                    }
                }
                for try await outcome in group {
                    #expect(outcome.applied != nil)
                }
            }
            let after = try #require(try await store.incident(.id("inc-1")))
            #expect(after.state.statusSequence == before.state.statusSequence + writers)
            #expect(after.version == before.version + Int64(writers))
            let bumps = try await store.timeline(of: "inc-1").filter { $0.item.kind == "bump" }
            #expect(Set(bumps.compactMap(\.item.reference)).count == writers)
            #expect(bumps.count == writers)
        }
    }

    /// Adds one to the incident's status sequence: a stand-in for any state change.
    static func bump(_ n: Int, at now: Timestamp) -> ApplyRequest {
        ApplyRequest(messageID: "test:bump-\(n)", lookup: .id("inc-1"), at: now) { input in
            var state = try #require(input.incident?.state)
            state.statusSequence += 1
            return IncidentChanges(
                state: state,
                timeline: [TimelineItem(at: now, kind: "bump", reference: "bump-\(n)", summary: "bump \(n)")])
        }
    }

    @Test("Opening a key another writer opened first is a conflict that writes nothing", arguments: StoreFactory.all)
    func openingAnOpenKeyIsAConflict(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            try await openFire1(store)
            // A writer that read before the first commit saw no incident for the key.
            let stale = ApplyRequest(messageID: "incident:e2", lookup: .none, at: t0) { _ in
                worker.changes(
                    for: .trigger(Trigger(incident: "inc-2", key: "fire-1", type: FixturePlan.type, severity: .major, title: "x")),
                    input: TransitionInput(incident: nil), at: t0)
            }
            #expect(try await store.apply(stale) == .conflict)
            #expect(try await store.incident(.id("inc-2")) == nil)
            #expect(try await store.timeline(of: "inc-2").isEmpty)
            #expect(try await store.dueTimes(of: "inc-2").isEmpty)
            // Not recorded as processed: applied again, it now finds the open incident.
            let retried = try await store.apply(
                worker.trigger(messageID: "incident:e2", key: "fire-1", incident: "inc-2", at: t0))
            #expect(retried.applied?.incident == "inc-1")
        }
    }

    // MARK: Due times

    @Test("A due time is claimed by exactly one of several concurrent claimers", arguments: StoreFactory.all)
    func dueTimeClaimedOnce(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            try await openFire1(store)
            let due = try await store.dueTimes(of: "inc-1")
            #expect(due.map(\.id) == [.stepDeadline(FixturePlan.operations, StepPosition(round: 1, step: 1))])
            #expect(try await store.nextDueAt() == t0 + FixturePlan.stepTimeout)
            #expect(try await store.claimDueTimes(now: t0 + .seconds(299), lease: .seconds(30), limit: 10).isEmpty)

            let now = step1Deadline
            let claims = try await withThrowingTaskGroup(of: [DueClaim].self) { group in
                for _ in 0..<8 {
                    group.addTask { try await store.claimDueTimes(now: now, lease: .seconds(30), limit: 10) }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(claims.count == 1)
            #expect(claims.first?.leaseUntil == now + .seconds(30))
            // Held: the next sweep should wake when the lease lapses.
            #expect(try await store.nextDueAt() == now + .seconds(30))
        }
    }

    @Test("A due time whose lease lapses is claimed again, and the old claim is lost", arguments: StoreFactory.all)
    func lapsedLeaseIsReclaimed(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            try await openFire1(store)
            let now = step1Deadline
            let first = try await claimOne(store, at: now)
            #expect(try await store.claimDueTimes(now: now + .seconds(29), lease: .seconds(30), limit: 10).isEmpty)
            let second = try await claimOne(store, at: now + .seconds(30))
            #expect(second.id == first.id)
            #expect(second.token != first.token)
            #expect(try await store.completeDueTime(first) == false)
            #expect(try await store.releaseDueTime(first) == false)
            #expect(try await store.releaseDueTime(second) == true)
            let third = try await claimOne(store, at: now + .seconds(31))
            #expect(try await store.completeDueTime(third) == true)
            #expect(try await store.dueTimes(of: "inc-1").isEmpty)
            #expect(try await store.nextDueAt() == nil)
        }
    }

    @Test("A fired due time takes effect once even when two workers claimed it", arguments: StoreFactory.all)
    func firedDueTimeTakesEffectOnce(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            try await openFire1(store)
            let now = step1Deadline
            let slow = try await claimOne(store, at: now)
            let fast = try await claimOne(store, at: now + .seconds(30))
            let applied = try await store.apply(worker.due(fast, at: now + .seconds(30)))
            #expect(applied.applied != nil)
            #expect(try await store.apply(worker.due(slow, at: now + .seconds(31))) == .alreadyProcessed)
            let timedOut = try await store.timeline(of: "inc-1").filter { $0.item.kind == .stepTimedOut }
            #expect(timedOut.count == 1)
            // Step 1's due time is gone; step 2's is scheduled.
            #expect(
                try await store.dueTimes(of: "inc-1").map(\.id) == [
                    .stepDeadline(FixturePlan.operations, StepPosition(round: 1, step: 2))
                ])
        }
    }

    @Test("A due time claimed before an ack committed pages nobody when it fires after it", arguments: StoreFactory.all)
    func ackRacingTimeoutPagesNobody(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            try await openFire1(store)
            let now = step1Deadline
            let claim = try await claimOne(store, at: now)
            let page = PageID(
                incident: "inc-1", department: FixturePlan.operations, position: StepPosition(round: 1, step: 1),
                contact: FixturePlan.lee)
            _ = try await store.apply(worker.reply(messageID: "reply:r1", page: page, contact: FixturePlan.lee, at: now))
            let fired = try await store.apply(worker.due(claim, at: now + .milliseconds(5)))
            #expect(fired.applied?.outboxWritten == 0)
            let timeline = try await store.timeline(of: "inc-1")
            #expect(timeline.filter { $0.item.kind == .page }.count == 1)
            #expect(!timeline.contains { $0.item.kind == .stepTimedOut })
            #expect(try await store.dueTimes(of: "inc-1").isEmpty)
            let pages = try await store.unpublishedOutbox(limit: 100).filter { $0.message.exchange == "pages" }
            #expect(pages.count == 1)
        }
    }

    // MARK: Prepared transitions

    @Test("A transition prepared before the incident changed is worked out again on what was committed", arguments: StoreFactory.all)
    func stalePreparedTransitionIsWorkedOutAgain(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            try await openFire1(store)
            let now = step1Deadline
            let claim = try await claimOne(store, at: now)
            // The timeout is worked out while step 1 is unacknowledged: it would page step 2...
            let prepared = worker.due(claim, at: now + .milliseconds(5)).prepared(
                against: try await store.incident(.id("inc-1")), parcels: [])
            #expect(prepared.prepared?.changes.outbox.isEmpty == false)
            // ...but the ack commits first.
            let page = PageID(
                incident: "inc-1", department: FixturePlan.operations, position: StepPosition(round: 1, step: 1),
                contact: FixturePlan.lee)
            _ = try await store.apply(worker.reply(messageID: "reply:r1", page: page, contact: FixturePlan.lee, at: now))
            let fired = try await store.apply(prepared)
            #expect(fired.applied?.outboxWritten == 0)
            let timeline = try await store.timeline(of: "inc-1")
            #expect(timeline.filter { $0.item.kind == .page }.count == 1)
            #expect(!timeline.contains { $0.item.kind == .stepTimedOut })
        }
    }

    @Test("A prepared transition that still holds is written without running it again", arguments: StoreFactory.all)
    func preparedTransitionIsWrittenAsPrepared(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let runs = Mutex(0)
            let plain = worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0)
            let counted = ApplyRequest(messageID: plain.messageID, lookup: plain.lookup, at: t0) { input in
                runs.withLock { $0 += 1 }
                return try plain.transition(input)
            }
            let batch = [
                counted.prepared(against: nil, parcels: []),
                worker.trigger(messageID: "incident:e2", key: "fire-2", incident: "inc-2", at: t0).prepared(
                    against: nil, parcels: []),
            ]
            #expect(runs.withLock { $0 } == 1)
            let outcomes = try await store.apply(batch: batch).map { try $0.get() }
            #expect(runs.withLock { $0 } == 1)
            #expect(outcomes.allSatisfy { $0.applied?.opened == true && $0.applied?.outboxWritten ?? 0 > 0 })
            #expect(try await store.openIncidents().map(\.id) == ["inc-1", "inc-2"])
            #expect(try await store.dueTimes(of: "inc-1").count == 1)
            #expect(try await store.unpublishedOutbox(limit: 100).count == outcomes.reduce(0) { $0 + ($1.applied?.outboxWritten ?? 0) })
            // Delivered again: already processed, and nothing runs.
            #expect(try await store.apply(batch[0]) == .alreadyProcessed)
            #expect(runs.withLock { $0 } == 1)
        }
    }

    @Test("Recording parcels moves the version, so a transition prepared before sees them when written", arguments: StoreFactory.all)
    func parcelsMoveTheVersion(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            try await openFire1(store)
            let seen = Mutex<[Int]>([])
            // Stands for a resolve: what it writes depends on the parcels it is given.
            let counting = ApplyRequest(messageID: "test:count", lookup: .id("inc-1"), at: t0, includeParcels: true) { input in
                seen.withLock { $0.append(input.parcels.count) }
                return IncidentChanges(timeline: [TimelineItem(at: t0, kind: "count", summary: "\(input.parcels.count) parcels")])
            }
            let prepared = counting.prepared(against: try await store.incident(.id("inc-1")), parcels: [])
            let parcel = ApplyRequest(messageID: "test:parcel", lookup: .id("inc-1"), at: t0) { _ in
                IncidentChanges(parcels: [Parcel(waybill: "WB9", customerID: "c9")])
            }
            #expect(try await store.apply(parcel).applied?.version == 2)
            #expect(try await store.incident(.id("inc-1"))?.version == 2)
            _ = try await store.apply(prepared)
            #expect(seen.withLock { $0 } == [0, 1])
            #expect(try await store.timeline(of: "inc-1").last { $0.item.kind == "count" }?.item.summary == "1 parcels")
        }
    }

    // MARK: Outbox

    @Test("Outbox rows come out in the order they were written, until published", arguments: StoreFactory.all)
    func outboxOrder(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let ids = (0..<12).map { "msg-\(String(format: "%02d", 11 - $0))" }  // not in sort order
            for (n, batch) in stride(from: 0, to: ids.count, by: 3).map({ Array(ids[$0..<$0 + 3]) }).enumerated() {
                _ = try await store.apply(Self.publish(batch, message: "test:out-\(n)", at: t0 + .seconds(Int64(n))))
            }
            let rows = try await store.unpublishedOutbox(limit: 100)
            #expect(rows.map(\.message.messageID) == ids)
            #expect(rows.map(\.sequence) == rows.map(\.sequence).sorted())
            #expect(rows.allSatisfy { $0.incident == "inc-1" && $0.publishedAt == nil })
            #expect(rows.first?.message.properties.headers == ["x-test": "yes"])
            #expect(rows.first?.message.body == Data("body of msg-11".utf8))

            let firstFive = try await store.unpublishedOutbox(limit: 5)
            #expect(firstFive.map(\.message.messageID) == Array(ids.prefix(5)))
            try await store.markPublished(firstFive.map(\.sequence), at: t0 + .seconds(100))
            #expect(try await store.unpublishedOutbox(limit: 100).map(\.message.messageID) == Array(ids.dropFirst(5)))
        }
    }

    @Test(
        "An incident's unpublished messages go to the relay of the worker that last wrote some, another's only once old",
        arguments: StoreFactory.all)
    func outboxRowsBelongToTheirLastWriter(factory: StoreFactory) async throws {
        try await factory.withTwoStores { first, second in
            func ids(_ store: any IncidentStore, othersWrittenBefore cutoff: Timestamp) async throws -> [String] {
                try await store.unpublishedOutbox(after: 0, limit: 100, othersWrittenBefore: cutoff).map(\.message.messageID)
            }
            try await openFire1(first)
            _ = try await first.apply(worker.trigger(messageID: "incident:e2", key: "fire-2", incident: "inc-2", at: t0))
            let opened = try await first.unpublishedOutbox(limit: 100)
            let fire1 = opened.filter { $0.incident == "inc-1" }.map(\.message.messageID)
            let fire2 = opened.filter { $0.incident == "inc-2" }.map(\.message.messageID)
            #expect(!fire1.isEmpty && !fire2.isEmpty)

            // Written by the first worker at t0: its relay's, not the second's while they are new.
            #expect(try await ids(first, othersWrittenBefore: t0) == fire1 + fire2)
            #expect(try await ids(second, othersWrittenBefore: t0).isEmpty)
            // Still unpublished once written before the cutoff: the second takes them over.
            #expect(try await ids(second, othersWrittenBefore: t0 + .milliseconds(1)) == fire1 + fire2)

            // The second worker fires inc-1's first timeout: inc-1's messages, the first worker's
            // included, are now the second's, in order; inc-2 stays with the first.
            let claims = try await second.claimDueTimes(now: step1Deadline, lease: .seconds(30), limit: 10)
            let claim = try #require(claims.first { $0.incident == "inc-1" })
            let baseline = second.outboxTakeoverBaseline()
            #expect(second.outboxTakeovers(since: baseline).isEmpty)
            _ = try await second.apply(worker.due(claim, at: step1Deadline))
            // A relay reading on learns that rows behind its cursor became its own, until a
            // baseline taken once the takeover committed.
            #expect(second.outboxTakeovers(since: baseline) == ["inc-1"])
            #expect(second.outboxTakeovers(since: second.outboxTakeoverBaseline()).isEmpty)
            let escalated = try await second.unpublishedOutbox(limit: 100).filter { $0.incident == "inc-1" }
                .map(\.message.messageID)
            #expect(escalated.count > fire1.count && Array(escalated.prefix(fire1.count)) == fire1)
            #expect(try await ids(second, othersWrittenBefore: t0) == escalated)
            #expect(try await ids(first, othersWrittenBefore: t0) == fire2)
            // Whoever wrote them, every row is there for a reader that asks for all.
            #expect(try await first.unpublishedOutbox(limit: 100).count == escalated.count + fire2.count)
        }
    }

    @Test("An outbox message whose id is already there is not written twice", arguments: StoreFactory.all)
    func outboxDedupe(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let parcel = Parcel(waybill: "WB1", customerID: "c1")
            _ = try await store.apply(
                worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", affected: [parcel], at: t0))
            // The same parcel reported again: its initial notice has the same id.
            let again = try await store.apply(
                worker.trigger(messageID: "incident:e2", key: "fire-1", incident: "inc-1", affected: [parcel], at: t0))
            #expect(again.applied?.outboxDuplicates == 1)
            let notices = try await store.unpublishedOutbox(limit: 100).filter { $0.message.exchange == "notices" }
            #expect(notices.map(\.message.messageID) == ["notice:inc-1:initial:WB1"])
            #expect(try await store.parcels(of: "inc-1") == [AffectedParcel(parcel: parcel, noticesSent: [.initial])])
        }
    }

    /// One message that only publishes `ids` for incident inc-1 (opening it when missing).
    static func publish(_ ids: [String], message: String, at now: Timestamp) -> ApplyRequest {
        ApplyRequest(messageID: message, lookup: .id("inc-1"), at: now) { input in
            var changes = IncidentChanges()
            if input.incident == nil {
                changes = FixtureWorker().changes(
                    for: .trigger(Trigger(incident: "inc-1", key: "k", type: "unplanned", severity: .general, title: "t")),
                    input: input, at: now)
                changes.outbox = []
            }
            changes.outbox += ids.map {
                OutboxMessage(
                    messageID: $0, exchange: "status", routingKey: "status.x",
                    properties: MessageProperties(headers: ["x-test": "yes"]), body: Data("body of \($0)".utf8))
            }
            return changes
        }
    }

    // MARK: Timeline

    @Test("A full incident's timeline has every event, page, timeout, ack and status", arguments: StoreFactory.all)
    func fullIncidentTimeline(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let incident: IncidentID = "inc-1"
            _ = try await store.apply(worker.trigger(messageID: "incident:e1", key: "fire-1", incident: incident, at: t0))
            // Two steps time out; each due time is claimed and fired by the sweep.
            var now = t0
            for _ in 0..<2 {
                now = now + FixturePlan.stepTimeout
                let claims = try await store.claimDueTimes(now: now, lease: .seconds(30), limit: 10)
                #expect(claims.count == 1)
                for claim in claims { _ = try await store.apply(worker.due(claim, at: now)) }
            }
            let wongsPage = PageID(
                incident: incident, department: FixturePlan.operations, position: StepPosition(round: 1, step: 3),
                contact: FixturePlan.wong)
            now = now + .seconds(42)
            _ = try await store.apply(worker.reply(messageID: "reply:r1", page: wongsPage, contact: FixturePlan.wong, at: now))
            // A reply whose page was never sent is refused and recorded.
            let leesRound2 = PageID(
                incident: incident, department: FixturePlan.operations, position: StepPosition(round: 2, step: 1),
                contact: FixturePlan.lee)
            _ = try await store.apply(worker.reply(messageID: "reply:r2", page: leesRound2, contact: FixturePlan.lee, at: now))
            now = now + .seconds(600)
            _ = try await store.apply(worker.resolve(messageID: "incident:e2", key: "fire-1", at: now))

            let timeline = try await store.timeline(of: incident)
            let kinds = timeline.map(\.item.kind)
            #expect(
                kinds == [
                    .opened, .departmentEngaged, .page, .statusUpdate,
                    .stepTimedOut, .page, .statusUpdate,
                    .stepTimedOut, .page, .statusUpdate,
                    .acknowledged, .statusUpdate,
                    .replyRefused,
                    .resolved, .statusUpdate,
                ])
            #expect(timeline.filter { $0.item.kind == .page }.map(\.item.contact) == [FixturePlan.lee, FixturePlan.chan, FixturePlan.wong])
            let ack = try #require(timeline.first { $0.item.kind == .acknowledged })
            #expect(ack.item.department == FixturePlan.operations)
            #expect(ack.item.contact == FixturePlan.wong)
            #expect(ack.item.channel == "im")
            #expect(ack.item.reference == wongsPage.description)
            #expect(ack.item.sinceFirstPage == .seconds(642))
            let refused = try #require(timeline.first { $0.item.kind == .replyRefused })
            #expect(refused.item.reference == "reply:r2")
            #expect(refused.item.detail["reason"] != nil)
            #expect(timeline.map(\.item.at) == timeline.map(\.item.at).sorted())
            #expect(try await store.dueTimes(of: incident).isEmpty)
            #expect(try await store.incident(.id(incident))?.isResolved == true)
            let statuses = try await store.unpublishedOutbox(limit: 100).filter { $0.message.exchange == "status" }
            #expect(statuses.map(\.message.messageID) == (1...5).map { "status:inc-1:\($0)" })

            let stats = try await store.ackStatistics(AckStatisticsQuery())
            #expect(
                stats == [
                    AckStatistic(
                        department: FixturePlan.operations, contact: nil, acknowledgements: 1, fastest: .seconds(642),
                        slowest: .seconds(642), mean: .seconds(642)),
                    AckStatistic(
                        department: FixturePlan.operations, contact: FixturePlan.wong, acknowledgements: 1,
                        fastest: .seconds(642), slowest: .seconds(642), mean: .seconds(642)),
                ])
            #expect(try await store.ackStatistics(AckStatisticsQuery(drills: .only)).isEmpty)
        }
    }

    @Test("Ack statistics average per department and per contact", arguments: StoreFactory.all)
    func ackStatisticsAggregate(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            // Three incidents acknowledged by lee after 60 s and 120 s, and by chan after 360 s.
            let acks: [(ContactID, step: Int, after: Int64)] = [(FixturePlan.lee, 1, 60), (FixturePlan.lee, 1, 120), (FixturePlan.chan, 2, 360)]
            for (n, ack) in acks.enumerated() {
                let incident = IncidentID("inc-\(n)")
                let start = t0 + .seconds(Int64(n) * 10_000)
                _ = try await store.apply(worker.trigger(messageID: "incident:t\(n)", key: "k\(n)", incident: incident, at: start))
                if ack.step == 2 {
                    let now = start + FixturePlan.stepTimeout
                    for claim in try await store.claimDueTimes(now: now, lease: .seconds(30), limit: 10) {
                        _ = try await store.apply(worker.due(claim, at: now))
                    }
                }
                let page = PageID(
                    incident: incident, department: FixturePlan.operations,
                    position: StepPosition(round: 1, step: ack.step), contact: ack.0)
                _ = try await store.apply(
                    worker.reply(messageID: "reply:a\(n)", page: page, contact: ack.0, at: start + .seconds(ack.after)))
            }
            let stats = try await store.ackStatistics(AckStatisticsQuery())
            #expect(stats.map(\.contact) == [nil, FixturePlan.chan, FixturePlan.lee])
            #expect(stats[0].acknowledgements == 3)
            #expect(stats[0].mean == .seconds(180))
            #expect(stats[0].fastest == .seconds(60))
            #expect(stats[0].slowest == .seconds(360))
            #expect(stats[2].acknowledgements == 2)
            #expect(stats[2].mean == .seconds(90))
            let late = try await store.ackStatistics(AckStatisticsQuery(from: t0 + .seconds(15_000)))
            #expect(late.first?.acknowledgements == 1)
            let one = try await store.ackStatistics(AckStatisticsQuery(incident: "inc-1"))
            #expect(one.first?.mean == .seconds(120))
        }
    }

    // MARK: Listing

    @Test("The recent incidents are the newest ones opened, resolved or not, oldest first", arguments: StoreFactory.all)
    func recentIncidentsIncludeResolvedOnes(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            #expect(try await store.recentIncidents(limit: 10).isEmpty)
            for (index, key) in ["fire-1", "fire-2", "fire-3"].enumerated() {
                _ = try await store.apply(
                    worker.trigger(
                        messageID: "incident:\(key)", key: key, incident: IncidentID("inc-\(index + 1)"),
                        at: t0 + .seconds(index * 60)))
            }
            _ = try await store.apply(worker.resolve(messageID: "incident:r2", key: "fire-2", at: t0 + .seconds(200)))
            #expect(try await store.openIncidents().map(\.id) == ["inc-1", "inc-3"])
            #expect(try await store.recentIncidents(limit: 10).map(\.id) == ["inc-1", "inc-2", "inc-3"])
            #expect(try await store.recentIncidents(limit: 10).map(\.isResolved) == [false, true, false])
            #expect(try await store.recentIncidents(limit: 2).map(\.id) == ["inc-2", "inc-3"])
            #expect(try await store.recentIncidents(limit: 0).isEmpty)
        }
    }

    // MARK: Keys

    @Test("A resolved incident's key opens a new incident on the next trigger", arguments: StoreFactory.all)
    func keyReuseAfterResolve(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            try await openFire1(store)
            _ = try await store.apply(worker.resolve(messageID: "incident:e2", key: "fire-1", at: t0 + .seconds(60)))
            // A late resolve for the key is recorded on the resolved incident, and changes nothing.
            let late = try await store.apply(worker.resolve(messageID: "incident:e3", key: "fire-1", at: t0 + .seconds(70)))
            #expect(late.applied?.incident == "inc-1")
            #expect(try await store.timeline(of: "inc-1").last?.item.kind == .ignored)

            let reopened = try await store.apply(
                worker.trigger(messageID: "incident:e4", key: "fire-1", incident: "inc-2", at: t0 + .seconds(120)))
            #expect(reopened.applied?.opened == true)
            #expect(reopened.applied?.incident == "inc-2")
            #expect(try await store.incident(.key("fire-1"))?.id == "inc-2")
            #expect(try await store.openIncidents().map(\.id) == ["inc-2"])
            #expect(try await store.incident(.id("inc-1"))?.isResolved == true)
            // The next event with the key belongs to the new incident.
            let update = try await store.apply(
                worker.trigger(messageID: "incident:e5", key: "fire-1", incident: "inc-3", severity: .critical, at: t0 + .seconds(130)))
            #expect(update.applied?.incident == "inc-2")
            #expect(update.applied?.opened == false)
            #expect(try await store.incident(.id("inc-3")) == nil)
        }
    }

    // MARK: Atomicity

    @Test("A transaction that fails half way leaves nothing behind", arguments: StoreFactory.all)
    func failedTransactionLeavesNothing(factory: StoreFactory) async throws {
        try await factory.withStore { (store: any IncidentStore) async throws in
            var crashing = worker.trigger(
                messageID: "incident:e1", key: "fire-1", incident: "inc-1", affected: [Parcel(waybill: "WB1", customerID: "c1")],
                at: t0)
            crashing.beforeCommit = { throw SimulatedCrash() }
            let crashingOnce = crashing
            await #expect(throws: SimulatedCrash.self) { _ = try await store.apply(crashingOnce) }

            #expect(try await store.incident(.id("inc-1")) == nil)
            #expect(try await store.incident(.key("fire-1")) == nil)
            #expect(try await store.timeline(of: "inc-1").isEmpty)
            #expect(try await store.dueTimes(of: "inc-1").isEmpty)
            #expect(try await store.unpublishedOutbox(limit: 100).isEmpty)
            #expect(try await store.parcels(of: "inc-1").isEmpty)
            #expect(try await store.nextDueAt() == nil)
            // Its id was not recorded: the redelivery applies it.
            crashing.beforeCommit = nil
            #expect(try await store.apply(crashing).applied?.opened == true)
        }
    }

    @Test("A failing message in a batch loses none of the others", arguments: StoreFactory.all)
    func failingMessageInBatch(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            var crashing = worker.trigger(messageID: "incident:e2", key: "fire-2", incident: "inc-2", at: t0)
            crashing.beforeCommit = { throw SimulatedCrash() }
            let throwing = ApplyRequest(messageID: "incident:e4", lookup: .key("fire-4"), at: t0) { _ in
                throw SimulatedCrash()
            }
            let results = try await store.apply(batch: [
                worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0),
                crashing,
                worker.trigger(messageID: "incident:e3", key: "fire-3", incident: "inc-3", at: t0),
                throwing,
            ])
            #expect(results.count == 4)
            #expect((try? results[0].get())?.applied?.opened == true)
            #expect(throws: SimulatedCrash.self) { try results[1].get() }
            #expect((try? results[2].get())?.applied?.opened == true)
            #expect(throws: SimulatedCrash.self) { try results[3].get() }
            #expect(try await store.openIncidents().map(\.id) == ["inc-1", "inc-3"])
            #expect(try await store.timeline(of: "inc-2").isEmpty)
            #expect(try await store.unpublishedOutbox(limit: 100).allSatisfy { $0.incident != "inc-2" })
        }
    }

    // MARK: Retention

    @Test("Pruning drops resolved incidents' inbox and published outbox, keeping the timeline", arguments: StoreFactory.all)
    func pruning(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let old = worker.trigger(messageID: "incident:old", key: "old", incident: "inc-old", at: t0)
            _ = try await store.apply(old)
            _ = try await store.apply(worker.resolve(messageID: "incident:old-resolve", key: "old", at: t0 + .seconds(60)))
            _ = try await store.apply(worker.trigger(messageID: "incident:open", key: "open", incident: "inc-open", at: t0))
            let oldTimeline = try await store.timeline(of: "inc-old")
            // Everything of the old incident but its last status update was published.
            let oldRows = try await store.unpublishedOutbox(limit: 100).filter { $0.incident == "inc-old" }
            try await store.markPublished(oldRows.dropLast().map(\.sequence), at: t0 + .seconds(61))

            let nothing = try await store.prune(resolvedBefore: t0 + .seconds(60))
            #expect(nothing == PruneSummary(inboxRows: 0, outboxRows: 0))
            let pruned = try await store.prune(resolvedMoreThan: .seconds(86_400), before: t0 + .seconds(2 * 86_400))
            #expect(pruned == PruneSummary(inboxRows: 2, outboxRows: oldRows.count - 1))

            #expect(try await store.timeline(of: "inc-old") == oldTimeline)
            #expect(try await store.incident(.id("inc-old"))?.isResolved == true)
            let left = try await store.unpublishedOutbox(limit: 100)
            #expect(left.filter { $0.incident == "inc-old" }.map(\.sequence) == [oldRows.last!.sequence])
            #expect(left.contains { $0.incident == "inc-open" })
            // The open incident's inbox is kept: its redelivery is still recognised.
            #expect(
                try await store.apply(
                    worker.trigger(messageID: "incident:open", key: "open", incident: "inc-open", at: t0)) == .alreadyProcessed)
        }
    }

    // MARK: Parcels

    @Test("Parcels are kept per incident with the notices each was sent", arguments: StoreFactory.all)
    func parcelsAndNotices(factory: StoreFactory) async throws {
        try await factory.withStore { store in
            let a = Parcel(waybill: "WB1", customerID: "c1", locale: "zh-Hant")
            let b = Parcel(waybill: "WB2", customerID: "c2")
            _ = try await store.apply(
                worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", affected: [a], at: t0))
            _ = try await store.apply(
                worker.trigger(messageID: "incident:e2", key: "fire-1", incident: "inc-1", affected: [b], at: t0 + .seconds(5)))
            _ = try await store.apply(worker.resolve(messageID: "incident:e3", key: "fire-1", at: t0 + .seconds(60)))
            #expect(
                try await store.parcels(of: "inc-1") == [
                    AffectedParcel(parcel: a, noticesSent: [.initial, .resolved]),
                    AffectedParcel(parcel: b, noticesSent: [.initial, .resolved]),
                ])
            let notices = try await store.unpublishedOutbox(limit: 100).filter { $0.message.exchange == "notices" }
            #expect(
                notices.map(\.message.messageID) == [
                    "notice:inc-1:initial:WB1", "notice:inc-1:initial:WB2", "notice:inc-1:resolved:WB1",
                    "notice:inc-1:resolved:WB2",
                ])
        }
    }
}

struct SimulatedCrash: Error {}
