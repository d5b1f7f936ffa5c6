import AMQP
import CallTree
import IncidentStore
import Logging
import ServiceLifecycle
import WireContract

/// Consumes one queue (incident events or replies): validates each delivery against the
/// contract, applies what arrived together in one store transaction, and acknowledges each
/// delivery only after the commit. Invalid input is dead-lettered with its reason; a store that
/// cannot be reached stops acknowledging, and the work is retried until it comes back.
final class IntakeService: Service, Sendable {
    /// What one valid delivery becomes.
    struct Work: Sendable {
        var request: ApplyRequest
        var logMetadata: Logger.Metadata
        /// For replies: a reply to a page of an incident the store does not know is refused.
        var mustFindIncident: Bool
    }

    typealias Decode = @Sendable (Delivery, Timestamp) throws(ContractViolation) -> Work

    private let name: String
    private let consumer: AMQPConsumer
    private let store: any IncidentStore
    private let decode: Decode
    private let clock: any WallClock
    private let batchSize: Int
    private let linger: Duration
    private let timerPriority: TimerPriority?
    private let applied: @Sendable () -> Void
    private let logger: Logger

    init(
        name: String, consumer: AMQPConsumer, store: any IncidentStore, batchSize: Int, linger: Duration = .zero,
        yieldingTo timerPriority: TimerPriority? = nil, clock: any WallClock, logger: Logger, decode: @escaping Decode,
        applied: @escaping @Sendable () -> Void
    ) {
        self.linger = linger
        self.timerPriority = timerPriority
        self.name = name
        self.consumer = consumer
        self.store = store
        self.decode = decode
        self.clock = clock
        self.batchSize = batchSize
        self.applied = applied
        var logger = logger
        logger[metadataKey: "service"] = "\(name)"
        self.logger = logger
    }

    func run() async throws {
        logger.info("consuming \(consumer.queue)")
        // Two batches in flight: while one is written (the store's single writer), the next one's
        // transitions are worked out against what is committed so far (`IncidentStore.prepare`).
        var writing: Task<Void, Never>?
        var arrivals = ArrivalRate()
        while !Task.isShuttingDownGracefully {
            // Waiting for deliveries ends at shutdown; a batch in hand is always finished.
            let batch = try? await cancelWhenGracefulShutdown { [consumer, batchSize] in
                try await consumer.nextBatch(maximumCount: batchSize)
            }
            guard var deliveries = batch else { break }
            var taken = ContinuousClock.now
            if deliveries.count < batchSize / 4, linger > .zero,
                arrivals.expectMore(within: linger, after: deliveries.count, at: taken)
            {
                // Few arrived at once, but more are coming: a moment more lets the next ones share
                // the transaction (one disk sync, one relay round) instead of each paying for its
                // own. When they come further apart than that, waiting would only make each later.
                try? await Task.sleep(for: linger)
                deliveries += consumer.availableDeliveries(maximumCount: batchSize - deliveries.count)
                taken = ContinuousClock.now
            }
            arrivals.lastTaken = taken
            let pending = await prepare(deliveries)
            await writing?.value
            writing = Task { await self.write(pending) }
        }
        await writing?.value
        await consumer.close()
        logger.info("stopped consuming \(consumer.queue)")
    }

    typealias Pending = [(delivery: Delivery, work: Work)]

    /// How fast deliveries have been arriving, from one batch to the next, on the monotonic clock:
    /// the intake's own pacing, not a time of the domain.
    struct ArrivalRate {
        /// When the intake last took every delivery that had arrived.
        var lastTaken: ContinuousClock.Instant?

        /// Whether, at the rate of the `count` deliveries that arrived since the last were taken,
        /// at least one more arrives within `linger`: waiting for it is worth a shared transaction.
        func expectMore(within linger: Duration, after count: Int, at now: ContinuousClock.Instant) -> Bool {
            guard let lastTaken else { return false }
            return now - lastTaken <= linger * count
        }
    }

    /// Decodes and validates the deliveries (dead-lettering what the contract refuses) and
    /// prepares their transitions.
    func prepare(_ deliveries: [Delivery]) async -> Pending {
        let now = clock.now()
        var pending: Pending = []
        pending.reserveCapacity(deliveries.count)
        for delivery in deliveries {
            do {
                pending.append((delivery, try decode(delivery, now)))
            } catch {
                await deadLetter(delivery, reason: error.message, metadata: ["code": "\(error.code)"])
            }
        }
        guard !pending.isEmpty else { return pending }
        do {
            let prepared = try await store.prepare(pending.map(\.work.request))
            for index in pending.indices { pending[index].work.request = prepared[index] }
        } catch {
            // Not prepared, the transitions run inside the write; `write` deals with the store.
            logger.debug("could not prepare transitions", metadata: ["error": "\(error)"])
        }
        return pending
    }

    /// Applies the batch and acknowledges each delivery once its transaction committed.
    func write(_ pending: Pending) async {
        var pending = pending
        var storeFailures = 0
        var conflicts = 0
        while !pending.isEmpty {
            // Escalations already running first; a long burst of due times delays this by a bounded time.
            await timerPriority?.yieldToTimers(atMost: .milliseconds(250))
            let results: [Result<ApplyOutcome, any Error>]
            do {
                results = try await store.apply(batch: pending.map(\.work.request))
                storeFailures = 0
            } catch {
                storeFailures += 1
                // Nothing was kept: keep the deliveries unacknowledged and try again.
                let delay = RecoveryPolicy.storeRetry.delay(beforeAttempt: storeFailures)
                logger.error(
                    "store unavailable, \(pending.count) messages wait unacknowledged; retrying in \(delay)",
                    metadata: ["error": "\(error)"])
                if Task.isShuttingDownGracefully && storeFailures > 3 {
                    // The broker redelivers them to whichever worker runs next.
                    for item in pending { consumer.nack(item.delivery, requeue: true) }
                    return
                }
                try? await Task.sleep(for: delay)
                continue
            }
            var retry: [(delivery: Delivery, work: Work)] = []
            for (item, result) in zip(pending, results) {
                switch result {
                case .success(.applied(let applied)):
                    if item.work.mustFindIncident && applied.incident == nil {
                        await deadLetter(
                            item.delivery, reason: "no incident is known for this reply's page; was it sent by this Escalator?",
                            metadata: item.work.logMetadata)
                        continue
                    }
                    var metadata = item.work.logMetadata
                    if let incident = applied.incident { metadata["incident_id"] = "\(incident)" }
                    logger.debug("applied", metadata: metadata)
                    consumer.ack(item.delivery)
                case .success(.alreadyProcessed):
                    logger.debug("already processed", metadata: item.work.logMetadata)
                    consumer.ack(item.delivery)
                case .success(.conflict):
                    retry.append(item)
                case .failure(let error):
                    await deadLetter(item.delivery, reason: "could not be applied: \(error)", metadata: item.work.logMetadata)
                }
            }
            if !retry.isEmpty {
                conflicts += 1
                // What was prepared no longer holds: work it out inside the next try.
                for index in retry.indices { retry[index].work.request.prepared = nil }
                // Another worker changed the same incident in between: run the transition again on
                // what it wrote. Persistent conflicts go back to the queue rather than spin here.
                if conflicts > 20 {
                    for item in retry { consumer.nack(item.delivery, requeue: true) }
                    break
                }
            }
            pending = retry
        }
        applied()
    }

    private func deadLetter(_ delivery: Delivery, reason: String, metadata: Logger.Metadata) async {
        var metadata = metadata
        metadata["message_id"] = "\(delivery.properties.messageID ?? "-")"
        metadata["routing_key"] = "\(delivery.routingKey)"
        logger.warning("dead-lettering: \(reason)", metadata: metadata)
        do {
            try await consumer.deadLetter(delivery, reason: reason)
        } catch {
            // Left unacknowledged, the message comes back and is judged again.
            logger.error("could not dead-letter, leaving the message for redelivery", metadata: ["error": "\(error)"])
        }
    }
}
