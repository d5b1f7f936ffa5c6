import AMQP
import CallTree
import IncidentStore
import Logging
import ServiceLifecycle
import Synchronization

/// Publishes the outbox in order with confirms and `mandatory`, and marks rows published only
/// once the broker confirmed them. A returned or refused message stays in the outbox and is
/// tried again with backoff while the others go on; at shutdown the relay drains what is left.
final class OutboxRelay: Service, Sendable {
    private let store: any IncidentStore
    private let publisher: any AMQPPublishing
    private let clock: any WallClock
    private let doorbell: Doorbell
    private let batchSize: Int
    private let pollInterval: Duration
    private let drainTimeout: Duration
    /// How old another worker's unpublished messages get before this relay publishes them too.
    private let takeover: Duration
    private let logger: Logger
    /// Whether a mark started beside the relay's loop is still being written.
    private let markInFlight = Atomic<Bool>(false)

    init(
        store: any IncidentStore, publisher: any AMQPPublishing, clock: any WallClock, doorbell: Doorbell,
        batchSize: Int, pollInterval: Duration = .seconds(1), drainTimeout: Duration = .seconds(8),
        takeover: Duration = .seconds(5), logger: Logger
    ) {
        self.takeover = takeover
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.doorbell = doorbell
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.drainTimeout = drainTimeout
        var logger = logger
        logger[metadataKey: "service"] = "outbox-relay"
        self.logger = logger
    }

    func run() async throws {
        var readFailures = 0
        var drainDeadline: Timestamp?
        // Rounds await their confirms while the next ones are read and handed over behind them:
        // the publisher keeps the order, and a row waits for one read, not for earlier confirms.
        var inFlight: [Round] = []
        // Reading goes on after the last row taken, in passes from sequence 0: a new pass starts
        // every poll interval and when a held row is due again, so rows that failed and rows other
        // workers committed under lower sequences are read again.
        var cursor: Int64 = 0
        var passStarted = clock.now()
        var passHandedOver = false
        var held: [Int64: Hold] = [:]
        // Held rows read in this pass: the others were published since (by another worker).
        var heldSeenInPass: Set<Int64> = []
        var marks = Marks()
        // The mark being written, if any (`markInFlight` says whether it is done).
        var marking: Task<Void, Never>?
        // Where sequences do not follow commits (PostgreSQL's concurrent writers), reading on
        // past a sequence could skip a row that commits later under a lower one: every round
        // then reads from the start, once the previous round is confirmed and marked.
        let readOnPastRounds = store.outboxSequencesFollowCommits
        // Which other workers' incidents are old enough to take over is settled at each read from
        // sequence 0 and kept while reading on, as is where the takeovers by this worker's writes
        // that had not committed by then begin: an incident taken over since may have rows behind
        // the cursor. The cursor starts at 0, so both are set before the first read.
        var othersWrittenBefore = Timestamp(millisecondsSinceEpoch: 0)
        var takeoverBaseline = 0
        func startPass(at now: Timestamp) {
            passStarted = now
            passHandedOver = false
            heldSeenInPass = []
        }
        /// Every round in flight confirmed (or held back) and every confirmed row marked.
        func finishAndMarkInFlight() async {
            for round in inFlight { await finish(round, holding: &held, marks: &marks) }
            inFlight = []
            await markAll(&marks, after: &marking)
        }
        // Cancelled (not shut down gracefully): stop at once; what is unmarked is sent again.
        while !Task.isCancelled {
            if marks.isDue(at: clock.now()), !markInFlight.load(ordering: .acquiring) {
                // Beside the loop, one at a time: a mark waits for the store's one writer, often
                // behind a batch of incidents, and reading and publishing need not wait with it.
                // Confirmed rows gather meanwhile and go in the next one.
                let due = marks
                marks = Marks()
                markInFlight.store(true, ordering: .releasing)
                marking = Task {
                    await self.markPublished(due)
                    self.markInFlight.store(false, ordering: .releasing)
                }
            }
            if Task.isShuttingDownGracefully, drainDeadline == nil {
                drainDeadline = clock.now() + drainTimeout
            }
            let rows: [OutboxRecord]
            do {
                if cursor == 0 {
                    othersWrittenBefore = clock.now() - takeover
                    takeoverBaseline = store.outboxTakeoverBaseline()
                }
                // Reading on, the rows this worker just committed need not be read back.
                if cursor != 0, readOnPastRounds, let written = store.writtenOutbox(after: cursor, limit: batchSize) {
                    rows = written
                } else {
                    rows = try await store.unpublishedOutbox(
                        after: cursor, limit: batchSize, othersWrittenBefore: othersWrittenBefore)
                }
                readFailures = 0
            } catch {
                readFailures += 1
                logger.error("cannot read the outbox; retrying", metadata: ["error": "\(error)"])
                await finishAndMarkInFlight()
                if let drainDeadline, clock.now() > drainDeadline { return }
                try? await Task.sleep(for: Hold.backoff(readFailures))
                continue
            }
            // Logged before its commit: a takeover whose rows this read saw is in the log.
            if cursor != 0, case let takenOver = store.outboxTakeovers(since: takeoverBaseline), !takenOver.isEmpty,
                let first = rows.first(where: { $0.incident.map(takenOver.contains) ?? false })
            {
                // These rows could go out before the incident's earlier ones, behind the cursor:
                // once the rounds in flight are confirmed and marked, read from 0.
                logger.debug(
                    "this worker took over the incident's messages from another; reading the outbox from the start",
                    metadata: ["incident_id": "\(first.incident.map { "\($0)" } ?? "-")", "sequence": "\(first.sequence)"])
                await finishAndMarkInFlight()
                cursor = 0
                startPass(at: clock.now())
                continue
            }
            let now = clock.now()
            guard let last = rows.last else {
                if !inFlight.isEmpty {
                    await finish(inFlight.removeFirst(), holding: &held, marks: &marks)
                    continue
                }
                // Caught up: a held row this pass did not read was published since (read from
                // the start, nothing at all is left).
                held = cursor == 0 ? [:] : held.filter { heldSeenInPass.contains($0.key) }
                // A new pass from the start now and then, and when a held row is due again; its
                // marks land first, so it does not read them as unpublished.
                let retryDue = held.values.contains { $0.notBefore <= now }
                let draining = drainDeadline.map { now <= $0 && passHandedOver } ?? false
                if cursor != 0, retryDue || draining || now - passStarted >= pollInterval {
                    await markAll(&marks, after: &marking)
                    cursor = 0
                    startPass(at: now)
                    continue
                }
                // Draining: done once a pass from the start found nothing to hand over.
                if drainDeadline != nil {
                    await markAll(&marks, after: &marking)
                    if !held.isEmpty {
                        logger.warning("stopping with \(held.count) messages undelivered; the next worker tries them again")
                    }
                    return
                }
                if cursor == 0 {
                    // A whole pass found nothing: the next one is this one, read again later.
                    startPass(at: now)
                }
                // Wait for new rows (rung by this worker's writes), the next pass, the next retry,
                // or the marks' turn.
                var wait = max(.milliseconds(1), pollInterval - (now - passStarted))
                if let retry = held.values.map(\.notBefore).min() { wait = min(wait, max(.milliseconds(1), retry - now)) }
                // A mark under way takes the next ones when it is done, not in a millisecond.
                if let due = marks.dueAt, !markInFlight.load(ordering: .acquiring) {
                    wait = min(wait, max(.milliseconds(1), due - now))
                }
                await cancelWhenGracefulShutdown { [doorbell, wait] in await doorbell.wait(atMost: wait) }
                continue
            }
            for row in rows where held[row.sequence] != nil { heldSeenInPass.insert(row.sequence) }
            cursor = last.sequence
            let ready = rows.filter { row in held[row.sequence].map { $0.notBefore <= now } ?? true }
            guard !ready.isEmpty else { continue }
            passHandedOver = true
            let round = submit(ready)
            inFlight.append(round)
            if !readOnPastRounds {
                await finish(inFlight.removeFirst(), holding: &held, marks: &marks)
                await markAll(&marks, after: &marking)
                cursor = 0
            } else if inFlight.count > Self.roundsInFlight {
                await finish(inFlight.removeFirst(), holding: &held, marks: &marks)
            }
        }
        // Cancelled: a mark still waiting for the store is given up (its rows are sent again).
        marking?.cancel()
        await marking?.value
    }

    /// How many rounds may await their confirms at once: enough that reading never waits for a
    /// broker slow to confirm under load, few enough that a failure is known within a few rounds.
    static let roundsInFlight = 4

    /// A row the broker did not take, and when to try it again.
    struct Hold {
        var attempts: Int
        var notBefore: Timestamp

        static func backoff(_ attempts: Int) -> Duration {
            RecoveryPolicy.storeRetry.delay(beforeAttempt: attempts)
        }
    }

    /// Rows handed to the publisher, awaiting their confirms.
    struct Round {
        var rows: [OutboxRecord]
        var receipt: PublishReceipt
    }

    private func submit(_ rows: [OutboxRecord]) -> Round {
        let messages = rows.map { row in
            OutboundMessage(
                exchange: row.message.exchange, routingKey: row.message.routingKey, body: Array(row.message.body),
                properties: AMQP.MessageProperties(
                    contentType: row.message.properties.contentType,
                    headers: row.message.properties.headers.mapValues { .string($0) },
                    persistent: row.message.properties.persistent,
                    correlationID: row.message.properties.correlationID,
                    replyTo: row.message.properties.replyTo,
                    messageID: row.message.messageID,
                    timestamp: UInt64(row.createdAt.millisecondsSinceEpoch / 1000),
                    appID: "escalator"))
        }
        return Round(rows: rows, receipt: publisher.submit(messages))
    }

    /// Waits for a round's confirms and marks the confirmed rows published; the others are
    /// held back for a while, so one undeliverable message does not hold up the rest.
    private func finish(_ round: Round, holding held: inout [Int64: Hold], marks: inout Marks) async {
        let outcomes: [PublishOutcome]
        do {
            outcomes = try await round.receipt.outcomes()
        } catch {
            logger.error("publishing failed; the messages stay in the outbox", metadata: ["error": "\(error)"])
            outcomes = []
        }
        let now = clock.now()
        var confirmed: [Int64] = []
        confirmed.reserveCapacity(round.rows.count)
        for (index, row) in round.rows.enumerated() {
            if index < outcomes.count, outcomes[index].isConfirmed {
                confirmed.append(row.sequence)
                held[row.sequence] = nil
                continue
            }
            let attempts = (held[row.sequence]?.attempts ?? 0) + 1
            held[row.sequence] = Hold(attempts: attempts, notBefore: now + Hold.backoff(attempts))
            if index < outcomes.count {
                logger.error(
                    "message not delivered, kept for another try: \(outcomes[index])",
                    metadata: [
                        "message_id": "\(row.message.messageID)", "exchange": "\(row.message.exchange)",
                        "routing_key": "\(row.message.routingKey)", "incident_id": "\(row.incident.map { "\($0)" } ?? "-")",
                        "attempts": "\(attempts)",
                    ])
            }
        }
        marks.confirmed(confirmed, at: now)
    }

    /// Marks the confirmed rows published, a few rounds at a time: the relay's cursor already
    /// keeps it from reading them again, so a mark only has to land before the next pass.
    private func markPublished(_ marks: Marks) async {
        guard !marks.sequences.isEmpty else { return }
        do {
            try await store.markPublished(marks.sequences, at: marks.oldest ?? clock.now())
        } catch {
            // They will be published again under the same message ids: duplicates, never losses.
            logger.error("published messages could not be marked; they will be sent again", metadata: ["error": "\(error)"])
        }
    }

    /// Every mark written, the one under way and those not started: before a pass from the
    /// start, which would otherwise read them as unpublished.
    private func markAll(_ marks: inout Marks, after marking: inout Task<Void, Never>?) async {
        await marking?.value
        marking = nil
        await markPublished(marks)
        marks = Marks()
    }

    /// Confirmed rows not marked yet.
    struct Marks {
        var sequences: [Int64] = []
        var oldest: Timestamp?

        mutating func confirmed(_ more: [Int64], at now: Timestamp) {
            guard !more.isEmpty else { return }
            sequences += more
            if oldest == nil { oldest = now }
        }

        /// When the oldest confirm has waited long enough; nil with nothing to mark.
        var dueAt: Timestamp? { oldest.map { $0 + .milliseconds(50) } }

        func isDue(at now: Timestamp) -> Bool {
            sequences.count >= 4096 || dueAt.map { now >= $0 } ?? false
        }
    }
}
