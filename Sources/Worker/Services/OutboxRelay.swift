import AMQP
import CallTree
import IncidentStore
import Logging
import ServiceLifecycle

/// Publishes the outbox in order with confirms and `mandatory`, and marks rows published only
/// once the broker confirmed them. A returned or refused message stays in the outbox and is
/// tried again with backoff; at shutdown the relay drains what is left.
final class OutboxRelay: Service, Sendable {
    private let store: any IncidentStore
    private let publisher: any AMQPPublishing
    private let clock: any WallClock
    private let doorbell: Doorbell
    private let batchSize: Int
    private let pollInterval: Duration
    private let drainTimeout: Duration
    private let logger: Logger

    init(
        store: any IncidentStore, publisher: any AMQPPublishing, clock: any WallClock, doorbell: Doorbell,
        batchSize: Int, pollInterval: Duration = .seconds(1), drainTimeout: Duration = .seconds(8), logger: Logger
    ) {
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
        var failures = 0
        var drainDeadline: Timestamp?
        while true {
            if Task.isShuttingDownGracefully, drainDeadline == nil {
                drainDeadline = clock.now() + drainTimeout
            }
            let rows: [OutboxRecord]
            do {
                rows = try await store.unpublishedOutbox(limit: batchSize)
            } catch {
                failures += 1
                logger.error("cannot read the outbox; retrying", metadata: ["error": "\(error)"])
                if let drainDeadline, clock.now() > drainDeadline { return }
                try? await Task.sleep(for: .milliseconds(min(10_000, 100 << min(failures, 7))))
                continue
            }
            if rows.isEmpty {
                if drainDeadline != nil { return }  // drained
                // Polled too: other workers write rows this one is not told about.
                await cancelWhenGracefulShutdown { [doorbell, pollInterval] in await doorbell.wait(atMost: pollInterval) }
                continue
            }
            let published = await publish(rows)
            if published == 0 {
                failures += 1
                if let drainDeadline, clock.now() > drainDeadline {
                    logger.warning("stopping with \(rows.count) or more messages unpublished; the next worker publishes them")
                    return
                }
                try? await Task.sleep(for: .milliseconds(min(10_000, 100 << min(failures, 7))))
            } else {
                failures = 0
            }
        }
    }

    /// Publishes one batch; returns how many were confirmed.
    private func publish(_ rows: [OutboxRecord]) async -> Int {
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
        let outcomes: [PublishOutcome]
        do {
            outcomes = try await publisher.publish(messages)
        } catch {
            logger.error("publishing failed; the messages stay in the outbox", metadata: ["error": "\(error)"])
            return 0
        }
        var confirmed: [Int64] = []
        for (row, outcome) in zip(rows, outcomes) {
            if outcome.isConfirmed {
                confirmed.append(row.sequence)
            } else {
                logger.error(
                    "message not delivered, kept for another try: \(outcome)",
                    metadata: [
                        "message_id": "\(row.message.messageID)", "exchange": "\(row.message.exchange)",
                        "routing_key": "\(row.message.routingKey)", "incident_id": "\(row.incident.map { "\($0)" } ?? "-")",
                    ])
            }
        }
        do {
            try await store.markPublished(confirmed, at: clock.now())
        } catch {
            // They will be published again under the same message ids: duplicates, never losses.
            logger.error("published messages could not be marked; they will be sent again", metadata: ["error": "\(error)"])
            return 0
        }
        return confirmed.count
    }
}
