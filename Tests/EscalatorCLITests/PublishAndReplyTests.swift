import AMQP
import CallTree
import EscalatorCLI
import Foundation
import Testing
import WireContract

/// `escalator publish` and `escalator reply` before anything reaches a broker: what the flags and
/// files turn into, and what is refused locally.
@Suite("publish and reply: composing and checking messages")
struct PublishAndReplyTests {
    static let now = Date(timeIntervalSince1970: 1_795_939_200)  // 2026-11-29T08:00:00Z

    func trigger(_ configure: (inout IncidentPublishing.Flags) -> Void = { _ in }) -> IncidentPublishing.Flags {
        var flags = IncidentPublishing.Flags()
        flags.key = "kc-hub-fire"
        flags.type = "warehouse-fire"
        flags.severity = "I"
        flags.title = "Fire alarm at Kwai Chung hub"
        configure(&flags)
        return flags
    }

    func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func aTriggerFromFlagsCarriesEveryFieldAndRoutesByType() throws {
        let event = try IncidentPublishing.event(
            from: trigger {
                $0.eventID = "evt-1"
                $0.site = "Kwai Chung hub"
                $0.eta = "2h"
                $0.affected = 3
                $0.locale = "en"
                $0.drill = true
            }, knownTypes: sampleTypes, now: Self.now)
        let json = try object(event.body)
        #expect(json["schema"] as? String == "incident.v1")
        #expect(json["event_id"] as? String == "evt-1")
        #expect(json["severity"] as? Int == 1)
        #expect(json["occurred_at"] as? String == "2026-11-29T08:00:00.000Z")
        #expect(json["eta"] as? String == "2026-11-29T10:00:00.000Z")
        #expect(json["drill"] as? Bool == true)
        let parcels = try #require(json["affected"] as? [[String: Any]])
        #expect(parcels.map { $0["waybill"] as? String } == ["WB000000001", "WB000000002", "WB000000003"])
        #expect(parcels.allSatisfy { $0["locale"] as? String == "en" })
        #expect(event.routingKey == "incident.warehouse-fire")

        let message = event.outbound(EscalatorNames())
        #expect(message.exchange == "incidents")
        #expect(message.properties.messageID == "evt-1")
        #expect(message.properties.contentType == "application/json")
        #expect(message.properties.persistent)
        #expect(event.receipt.contains("evt-1") && event.receipt.contains("kc-hub-fire"))
    }

    @Test func eachEventGetsAFreshIDUnlessOneIsGiven() throws {
        let first = try IncidentPublishing.event(from: trigger(), knownTypes: sampleTypes)
        let second = try IncidentPublishing.event(from: trigger(), knownTypes: sampleTypes)
        #expect(first.message.eventID != second.message.eventID)
        #expect(UUID(uuidString: first.message.eventID) != nil)
    }

    @Test func aTriggerWithoutTypeSeverityOrTitleIsRefusedNamingTheFlags() throws {
        let error = #expect(throws: CommandFailure.self) {
            try IncidentPublishing.event(from: trigger { $0.type = nil; $0.title = nil }, knownTypes: sampleTypes)
        }
        #expect(error?.message.contains("--type") == true)
        #expect(error?.message.contains("--title") == true)
        #expect(error?.message.contains("--severity") == false)
        #expect(error?.exitCode == 2)
    }

    @Test(arguments: ["0", "5", "V", "severe"])
    func aSeverityOutsideOneToFourIsRefused(_ severity: String) throws {
        let error = #expect(throws: CommandFailure.self) {
            try IncidentPublishing.event(from: trigger { $0.severity = severity }, knownTypes: sampleTypes)
        }
        #expect(error?.message.contains("--severity must be 1, 2, 3 or 4") == true)
    }

    @Test func anUnknownTypeIsRefusedWithTheContractsMessage() throws {
        let error = #expect(throws: CommandFailure.self) {
            try IncidentPublishing.event(from: trigger { $0.type = "volcano" }, knownTypes: sampleTypes)
        }
        #expect(error?.message.contains("field 'type' names \"volcano\", which the plan does not define") == true)
    }

    @Test func aBadTimeIsRefusedNamingTheFlag() throws {
        let error = #expect(throws: CommandFailure.self) {
            try IncidentPublishing.event(from: trigger { $0.occurredAt = "yesterday" }, knownTypes: sampleTypes)
        }
        #expect(error?.message.hasPrefix("--occurred-at must be an RFC 3339 time") == true)
    }

    @Test func aResolveNeedsOnlyTheKeyAndIsRoutedByItsTypeWhenGiven() throws {
        var flags = IncidentPublishing.Flags()
        flags.action = "resolve"
        flags.key = "kc-hub-fire"
        flags.details = "Fire out"
        let untyped = try IncidentPublishing.event(from: flags, knownTypes: sampleTypes)
        #expect(untyped.message.action == .resolve)
        #expect(untyped.routingKey == "incident.untyped")
        flags.type = "warehouse-fire"
        #expect(try IncidentPublishing.event(from: flags, knownTypes: sampleTypes).routingKey == "incident.warehouse-fire")
    }

    @Test func affectedParcelsAreReadFromCSVAndJSONFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("escalator-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("parcels.csv")
        try "# waybill,customer\nWB1,C1\nWB2, C2, zh-Hans\n\n".write(to: csv, atomically: true, encoding: .utf8)
        let json = folder.appendingPathComponent("parcels.json")
        try #"[{"waybill": "WB3", "customer_id": "C3", "locale": "en"}]"#.write(to: json, atomically: true, encoding: .utf8)

        let fromCSV = try IncidentPublishing.event(from: trigger { $0.affectedFile = csv.path }, knownTypes: sampleTypes)
        #expect(fromCSV.message.affected.map(\.waybill) == ["WB1", "WB2"])
        #expect(fromCSV.message.affected.map(\.locale) == [nil, "zh-Hans"])
        let fromJSON = try IncidentPublishing.event(from: trigger { $0.affectedFile = json.path }, knownTypes: sampleTypes)
        #expect(fromJSON.message.affected.map(\.customerID) == ["C3"])

        let broken = folder.appendingPathComponent("broken.csv")
        try "WB1\n".write(to: broken, atomically: true, encoding: .utf8)
        let error = #expect(throws: CommandFailure.self) {
            try IncidentPublishing.event(from: trigger { $0.affectedFile = broken.path }, knownTypes: sampleTypes)
        }
        #expect(error?.message.contains("broken.csv:1: expected waybill,customer_id[,locale]") == true)
    }

    @Test func aFileIsSentByteForByteOnceTheContractAcceptsIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("escalator-event-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = #"{"schema": "incident.v1", "event_id": "file-1", "action": "trigger", "incident_key": "k", "type": "parcel-loss", "severity": 3, "title": "Lost", "occurred_at": "2026-11-29T08:00:00+08:00"}"#
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let event = try IncidentPublishing.event(file: path, knownTypes: sampleTypes)
        #expect(event.body == Array(text.utf8))
        #expect(event.routingKey == "incident.parcel-loss")
    }

    @Test func aFileBreakingTheContractIsRefusedWithTheContractsMessage() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("escalator-event-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try #"{"schema": "incident.v1", "event_id": "x", "action": "trigger", "incident_key": "k", "type": "parcel-loss", "severity": true, "title": "t", "occurred_at": "2026-11-29T08:00:00Z"}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: CommandFailure.self) { try IncidentPublishing.event(file: path, knownTypes: sampleTypes) }
        #expect(error?.message.contains("field 'severity' must be an integer from 1 to 4") == true)
        #expect(error?.exitCode == 2)
    }

    // MARK: reply

    let signer = PageTokenSigner(secret: Array(testSecret.utf8))
    let pageID = "page:inc-0123456789abcdef:operations:1:2:tam-mei-yee"

    @Test func aReplyDefaultsToThePagesContactAndASignedTokenTheWorkerAccepts() throws {
        var flags = ReplyPublishing.Flags(page: pageID)
        flags.note = "On my way"
        let reply = try ReplyPublishing.reply(from: flags, signer: signer, now: Self.now)
        #expect(reply.message.contact.rawValue == "tam-mei-yee")
        #expect(reply.message.action == .ack)
        #expect(reply.message.note == "On my way")
        #expect(reply.message.sentAt == Timestamp(Self.now))
        #expect(reply.signedLocally)
        #expect(signer.isValid(reply.message.token, page: pageID, contact: "tam-mei-yee"))

        let message = reply.outbound(EscalatorNames())
        #expect(message.exchange == "")
        #expect(message.routingKey == "escalator.replies")
        #expect(message.properties.correlationID == pageID)
        #expect(message.properties.messageID == reply.message.replyID)
    }

    @Test func aGatewaysTokenAndContactArePassedOnUnchanged() throws {
        var flags = ReplyPublishing.Flags(page: pageID)
        flags.token = "token-from-the-page"
        flags.contact = "liu-yang"
        flags.action = "escalate"
        let reply = try ReplyPublishing.reply(from: flags, signer: signer)
        #expect(reply.message.token == "token-from-the-page")
        #expect(reply.message.contact.rawValue == "liu-yang")
        #expect(reply.message.action == .escalate)
        #expect(!reply.signedLocally)
    }

    @Test(arguments: ["nonsense", "page:inc-1:operations:0:1:lee-dispatch", "page::operations:1:1:x"])
    func aPageIDThatIsNotOneIsRefused(_ page: String) throws {
        let error = #expect(throws: CommandFailure.self) {
            try ReplyPublishing.reply(from: .init(page: page), signer: signer)
        }
        #expect(error?.message.contains("is not a page id") == true)
    }

    @Test func anUnknownReplyActionIsRefused() throws {
        var flags = ReplyPublishing.Flags(page: pageID)
        flags.action = "snooze"
        let error = #expect(throws: CommandFailure.self) { try ReplyPublishing.reply(from: flags, signer: signer) }
        #expect(error?.message == "--action must be ack, escalate or resolve, not 'snooze'")
    }

    // MARK: outcomes

    @Test func aConfirmedPublishSucceeds() async throws {
        let message = OutboundMessage(exchange: "incidents", routingKey: "incident.parcel-loss", body: [])
        try await ConfirmedPublish.send(message, describing: "event e", through: StubPublisher(.success(.confirmed)))
    }

    @Test func aReturnedPublishFailsNamingTheExchangeAndRoutingKey() async throws {
        let message = OutboundMessage(exchange: "incidents", routingKey: "incident.parcel-loss", body: [])
        let error = await #expect(throws: CommandFailure.self) {
            try await ConfirmedPublish.send(
                message, describing: "event e", through: StubPublisher(.success(.returned(replyCode: 312, replyText: "NO_ROUTE"))))
        }
        #expect(error?.message.contains("no queue is bound to exchange 'incidents' with routing key 'incident.parcel-loss'") == true)
        #expect(error?.exitCode == 1)
    }

    @Test func aNackedPublishFails() async throws {
        let message = OutboundMessage(exchange: "", routingKey: "escalator.replies", body: [])
        let error = await #expect(throws: CommandFailure.self) {
            try await ConfirmedPublish.send(message, describing: "reply r", through: StubPublisher(.success(.nacked)))
        }
        #expect(error?.message.contains("refused by the broker (nack) on queue 'escalator.replies'") == true)
    }

    @Test func anUnpublishableMessageFailsWithTheReason() async throws {
        let message = OutboundMessage(exchange: "incidents", routingKey: "incident.x", body: [])
        let outcome = PublishOutcome.unpublishable(reason: "cannot encode the properties in one 131072-byte frame")
        let error = await #expect(throws: CommandFailure.self) {
            try await ConfirmedPublish.send(message, describing: "event e", through: StubPublisher(.success(outcome)))
        }
        #expect(
            error?.message
                == "event e was not sent to exchange 'incidents' with routing key 'incident.x': cannot encode the properties in one 131072-byte frame"
        )
    }

    @Test func aPublisherErrorFailsWithItsMessage() async throws {
        let message = OutboundMessage(exchange: "incidents", routingKey: "incident.x", body: [])
        let error = await #expect(throws: CommandFailure.self) {
            try await ConfirmedPublish.send(
                message, describing: "event e", through: StubPublisher(.failure(AMQPError(.connectionRefused, "connection refused"))))
        }
        #expect(error?.message == "could not publish event e: connection refused")
    }
}

@Suite("publish: a broker that never answers")
struct SilentBrokerTests {
    @Test(.timeLimit(.minutes(1)))
    func aPublishThatIsNeverConfirmedFailsAtTheDeadline() async throws {
        let listener = try SilentListener()
        let settings = try operatorSettings(url: "amqp://guest:guest@127.0.0.1:\(listener.port)/%2F")
        let started = ContinuousClock.now
        let error = await #expect(throws: CommandFailure.self) {
            try await ConfirmedPublish.send(
                OutboundMessage(exchange: "incidents", routingKey: "incident.x", body: []), describing: "event e",
                configuration: try settings.oneShotAMQP("test"), logger: quietLogger, deadline: .seconds(1))
        }
        #expect(error?.message.contains("no confirm from amqp://guest@127.0.0.1:\(listener.port)/%2F within 1.0 seconds for event e") == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(8))
        withExtendedLifetime(listener) {}
    }
}
