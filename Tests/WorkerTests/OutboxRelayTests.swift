import AMQP
import CallTree
import Foundation
import IncidentStore
import IncidentStoreSQLite
import Logging
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

    let store: SQLiteIncidentStore
    let processor = EscalationProcessor(
        renderer: EscalationProcessorTests.renderer, signer: PageTokenSigner(secret: Array("test secret".utf8)))

    init() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("escalator-relay-\(UUID().uuidString)")
        store = try SQLiteIncidentStore(
            configuration: SQLiteIncidentStoreConfiguration(path: folder.appendingPathComponent("store.sqlite").path),
            logger: Logger(label: "test"))
    }

    /// Opens `count` incidents on the sample plan: pages and a status update each.
    func writeIncidents(_ count: Int) async throws -> [OutboxRecord] {
        for n in 0..<count {
            let body = IncidentEventBody(
                eventID: "evt-\(n)", action: .trigger, incidentKey: "key-\(n)", type: "warehouse-fire", severity: 3,
                title: "Fire \(n)", occurredAt: "2026-11-29T08:15:00+08:00", affected: nil, drill: false)
            let message = try IncidentMessage(bytes: WireJSON.encode(body), knownTypes: processor.knownTypes)
            _ = try await store.apply(processor.request(for: message, at: EscalationProcessorTests.start))
        }
        return try await store.unpublishedOutbox(limit: 10_000)
    }

    func runRelay(_ publisher: ScriptedPublisher, batchSize: Int = 4, until done: @escaping @Sendable () async throws -> Bool)
        async throws
    {
        let relay = OutboxRelay(
            store: store, publisher: publisher, clock: SystemWallClock(), doorbell: Doorbell(), batchSize: batchSize,
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
        let store = store
        try await runRelay(publisher) { try await store.unpublishedOutbox(limit: 100).isEmpty }
        #expect(try await store.unpublishedOutbox(limit: 100).isEmpty)
        #expect(publisher.publishedIDs == rows.map(\.message.messageID))
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
}
