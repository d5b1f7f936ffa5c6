import AMQP
import CallTree
import Foundation
import IncidentStore
import IncidentStoreSelection
import Logging
import PlanFile
import Rendering
import ServiceLifecycle
import UnixSignals
import WireContract

/// `escalator worker`: the consumers of incidents and replies, the due-time sweep and the outbox
/// relay, run as one service group. SIGTERM or SIGINT stops consuming, finishes what is in
/// flight, drains the outbox and returns.
public struct EscalatorWorker: Sendable {
    public let configuration: WorkerConfiguration
    public let logger: Logger

    public init(configuration: WorkerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let configuration = configuration
        // A bad plan is refused before anything connects, with the check-config messages.
        let renderer = try Renderer.load(contentsOf: configuration.planPath)
        let processor = EscalationProcessor(
            renderer: renderer, signer: PageTokenSigner(secret: configuration.secret), names: configuration.names)
        let opened = try await Self.openStore(configuration.store, logger: logger)
        let store = opened.store
        let amqp = try AMQPConfiguration(
            url: configuration.amqpURL, tls: configuration.tls,
            connectionName: "escalator worker \(ProcessInfo.processInfo.hostName) pid \(ProcessInfo.processInfo.processIdentifier)",
            heartbeat: configuration.heartbeat)
        let topology = Topology.escalator(configuration.names)
        try await topology.declare(using: amqp, logger: logger)

        let clock = SystemWallClock()
        let publisher = AMQPPublisher(configuration: amqp, topology: topology, logger: logger)
        let deadLettering = AMQPConsumer.DeadLettering(
            publisher: publisher, exchange: configuration.names.deadLetterExchange, reasonHeader: errorHeader)
        let prefetch = UInt16(clamping: configuration.prefetch)
        // Half the prefetch, so the next batch is delivered while one is written.
        let intakeBatch = max(1, configuration.prefetch / 2)
        let timerPriority = TimerPriority()
        let relayDoorbell = Doorbell()
        let sweepDoorbell = Doorbell()
        let wrote: @Sendable () -> Void = {
            relayDoorbell.ring()
            sweepDoorbell.ring()
        }

        // The two intakes differ only in their queue, how a delivery is read, and whether they
        // give way to due times (new events do; replies, which stop escalations, never wait).
        func intake(
            _ name: String, queue: String, yieldingTo priority: TimerPriority?, decode: @escaping IntakeService.Decode
        ) -> IntakeService {
            IntakeService(
                name: name,
                consumer: AMQPConsumer(
                    configuration: amqp, topology: topology, queue: queue, prefetch: prefetch, deadLettering: deadLettering,
                    logger: logger),
                store: store, batchSize: intakeBatch, linger: configuration.intakeLinger, yieldingTo: priority, clock: clock,
                logger: logger, decode: decode, applied: wrote)
        }
        let incidents = intake("incident-intake", queue: configuration.names.incidentsQueue, yieldingTo: timerPriority) {
            delivery, now throws(ContractViolation) in
            let message = try IncidentMessage(bytes: delivery.body, knownTypes: processor.knownTypes)
            return IntakeService.Work(
                request: processor.request(for: message, at: now),
                logMetadata: ["incident_key": "\(message.incidentKey)", "event_id": "\(message.eventID)", "action": "\(message.action)"],
                mustFindIncident: false)
        }
        let replies = intake("reply-intake", queue: configuration.names.repliesQueue, yieldingTo: nil) {
            delivery, now throws(ContractViolation) in
            let message = try ReplyMessage(bytes: delivery.body)
            return IntakeService.Work(
                request: processor.request(for: message, at: now),
                logMetadata: [
                    "incident_id": "\(message.page.incident)", "page_id": "\(message.page)", "reply_id": "\(message.replyID)",
                    "contact_id": "\(message.contact)", "action": "\(message.action.rawValue)",
                ],
                mustFindIncident: true)
        }
        let sweep = DueTimeSweep(
            store: store, processor: processor, clock: clock, doorbell: sweepDoorbell, interval: configuration.sweepInterval,
            lease: configuration.lease, batchSize: configuration.sweepBatch, retention: configuration.retention,
            priority: timerPriority, logger: logger, applied: { relayDoorbell.ring() })
        let relay = OutboxRelay(
            store: store, publisher: publisher, clock: clock, doorbell: relayDoorbell, batchSize: configuration.outboxBatch,
            takeover: configuration.outboxTakeover, logger: logger)

        // Shut down in reverse order: intake first, then the sweep, then the relay drains.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                // The store's own service (PostgreSQL's connection pool) starts first and stops last.
                services: ([opened.service, relay, sweep, replies, incidents] as [(any Service)?]).compactMap { $0 }.map {
                    .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
                },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        logger.info(
            "worker started",
            metadata: [
                "plan": "\(configuration.planPath)", "store": "\(configuration.store)",
                "incidents_queue": "\(configuration.names.incidentsQueue)", "replies_queue": "\(configuration.names.repliesQueue)",
            ])
        try await group.run()
        await publisher.close()
        logger.info("worker stopped")
    }

    /// The store named by `store` (ESCALATOR_STORE): a SQLite path or a postgres:// URL. A
    /// database that cannot be reached yet is waited for, so workers may start before it.
    static func openStore(_ written: String, logger: Logger) async throws -> OpenedIncidentStore {
        let location = try IncidentStoreLocation(parsing: written)
        var attempt = 0
        while true {
            do {
                return try await location.open(logger: logger)
            } catch let error as IncidentStoreError where error.isTransient {
                attempt += 1
                let delay = RecoveryPolicy.storeStartup.delay(beforeAttempt: attempt)
                logger.error("store not reachable yet, retrying in \(delay): \(error.message)")
                try await Task.sleep(for: delay)
            }
        }
    }
}

extension WorkerConfiguration {
    /// The broker's TLS settings, when a CA file is configured.
    public var tls: AMQPConfiguration.TLS? {
        guard let amqpCAFile else { return nil }
        return AMQPConfiguration.TLS(caCertificatePath: amqpCAFile, clientCertificatePath: amqpCertFile, clientKeyPath: amqpKeyFile)
    }
}
