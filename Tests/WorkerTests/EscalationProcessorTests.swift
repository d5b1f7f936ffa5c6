import CallTree
import Foundation
import IncidentStore
import IncidentStoreSQLite
import Logging
import Rendering
import Testing
import WireContract
import Worker

/// The worker's processing on the sample plan and a real SQLite store, without a broker: what
/// each message writes to the outbox and the timeline.
@Suite("Processing incidents and replies into the store")
struct EscalationProcessorTests {
    static let samplePlan = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/plan.yaml").path
    static let renderer = try! Renderer.load(contentsOf: samplePlan)
    static let start = Timestamp(secondsSinceEpoch: 1_795_911_300)

    let processor = EscalationProcessor(renderer: Self.renderer, signer: PageTokenSigner(secret: Array("test secret".utf8)))
    let store: SQLiteIncidentStore
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("escalator-worker-\(UUID().uuidString)")
        store = try SQLiteIncidentStore(
            configuration: SQLiteIncidentStoreConfiguration(path: folder.appendingPathComponent("store.sqlite").path),
            logger: Logger(label: "test"))
    }

    func incident(
        _ action: IncidentMessage.Action = .trigger, event: String = "evt-1", key: String = "kc-fire", severity: Int? = 2,
        affected: Int = 0, drill: Bool = false
    ) throws -> IncidentMessage {
        let body = IncidentEventBody(
            eventID: event, action: action, incidentKey: key, type: action == .trigger ? "warehouse-fire" : nil,
            severity: action == .trigger ? severity : nil, title: action == .trigger ? "Fire at Kwai Chung hub" : nil,
            occurredAt: action == .trigger ? "2026-11-29T08:15:00+08:00" : nil,
            affected: affected == 0 ? nil : (1...affected).map { .init(waybill: "WB\($0)", customerID: "C\($0)", locale: "en") },
            drill: drill)
        return try IncidentMessage(bytes: WireJSON.encode(body), knownTypes: processor.knownTypes)
    }

    func reply(to page: [String: Any], action: ReplyAction = .ack, token: String? = nil, contact: String? = nil, id: String = "r-1") throws -> ReplyMessage {
        let pageID = page["page_id"] as! String
        let pageContact = (page["contact"] as! [String: Any])["id"] as! String
        let body = ReplyBody(
            replyID: id, pageID: pageID, contactID: contact ?? pageContact, token: token ?? page["token"] as! String,
            action: action, sentAt: "2026-11-29T08:20:00Z")
        return try ReplyMessage(bytes: WireJSON.encode(body))
    }

    func outbox() async throws -> [OutboxRecord] { try await store.unpublishedOutbox(limit: 10_000) }

    func json(_ record: OutboxRecord) -> [String: Any] {
        try! JSONSerialization.jsonObject(with: record.message.body) as! [String: Any]
    }

    func pages() async throws -> [[String: Any]] {
        try await outbox().filter { $0.message.exchange == "pages" }.map(json)
    }

    @Test func aTriggerWritesASignedPageForEachFirstStepContactAndAStatusUpdate() async throws {
        _ = try await store.apply(processor.request(for: incident(), at: Self.start))
        let records = try await outbox()
        let pages = records.filter { $0.message.exchange == "pages" }
        #expect(!pages.isEmpty)
        for record in pages {
            let page = json(record)
            let pageID = page["page_id"] as! String
            let contact = (page["contact"] as! [String: Any])["id"] as! String
            #expect(record.message.messageID == pageID)
            #expect(record.message.properties.correlationID == pageID)
            #expect(record.message.properties.replyTo == "escalator.replies")
            #expect(processor.signer.isValid(page["token"] as! String, page: pageID, contact: contact))
            #expect(!(page["text"] as! String).isEmpty)
            #expect(page["step"] as? Int == 1 && page["round"] as? Int == 1)
        }
        let status = records.filter { $0.message.exchange == "status" }.map(json)
        #expect(status.map { $0["state"] as? String } == ["open"])
        #expect(records.first { $0.message.exchange == "status" }?.message.routingKey == "status.warehouse-fire.open")
    }

    /// The command centre reads these in `escalator timeline`, JSON included.
    @Test func theTimelineSaysInWordsWhyEachDepartmentWasEngagedAndEachPageSent() async throws {
        _ = try await store.apply(processor.request(for: incident(), at: Self.start))
        let incidentID = IncidentID(try await pages()[0]["incident_id"] as! String)
        let timeline = try await store.timeline(of: incidentID).map(\.item)
        let engaged = timeline.filter { $0.kind == .departmentEngaged }
        #expect(!engaged.isEmpty)
        for item in engaged {
            #expect(item.summary.hasSuffix(" engaged (activation rule)"), "\(item.summary)")
            #expect(item.detail["reason"] == "activation rule")
        }
        let paged = timeline.filter { $0.kind == .page }
        #expect(!paged.isEmpty)
        #expect(paged.allSatisfy { $0.detail["reason"] == "department engaged: activation rule" }, "\(paged.map(\.detail))")
    }

    /// Every worker, of every version, must name a trigger's incident the same: a redelivered
    /// trigger reaching an upgraded worker must find the incident, not open a second one.
    @Test func theIncidentIDOfATriggerIsTheFirstEightBytesOfTheSHA256OfItsEventID() {
        #expect(EscalationProcessor.incidentID(forTrigger: "evt-1") == "inc-7b409f932d2c88e9")
        #expect(EscalationProcessor.incidentID(forTrigger: "倉庫-1") == "inc-cac8f45a2e50410f")
    }

    @Test func theSameEventTwiceOpensOneIncidentWithOneSetOfPages() async throws {
        let first = try await store.apply(processor.request(for: incident(), at: Self.start))
        let second = try await store.apply(processor.request(for: incident(), at: Self.start + .seconds(5)))
        #expect(second == .alreadyProcessed)
        guard case .applied(let applied) = first else { Issue.record("not applied: \(first)"); return }
        #expect(applied.opened)
        #expect(try await store.openIncidents().count == 1)
        let ids = try await pages().map { $0["page_id"] as! String }
        #expect(Set(ids).count == ids.count)
    }

    @Test func aTriggerRepublishedUnderAnotherEventIDUpdatesTheOpenIncident() async throws {
        _ = try await store.apply(processor.request(for: incident(), at: Self.start))
        let before = try await pages().count
        _ = try await store.apply(processor.request(for: incident(event: "evt-2"), at: Self.start + .seconds(5)))
        #expect(try await pages().count == before)
        #expect(try await store.openIncidents().count == 1)
    }

    @Test func anAckByReplyStopsThatDepartmentAndTheStatusNamesWhoAndWhen() async throws {
        _ = try await store.apply(processor.request(for: incident(), at: Self.start))
        let page = try await pages()[0]
        let department = page["department"] as! String
        _ = try await store.apply(processor.request(for: reply(to: page), at: Self.start + .seconds(90)))

        let status = try await outbox().filter { $0.message.exchange == "status" }.map(json).last!
        let entry = (status["departments"] as! [[String: Any]]).first { $0["department"] as? String == department }!
        #expect(entry["state"] as? String == "acknowledged")
        #expect(entry["acknowledged_by"] as? String == (page["contact"] as! [String: Any])["id"] as? String)
        #expect(entry["acknowledged_at"] as? String == "2026-11-29T00:16:30.000Z")
        let incidentID = IncidentID(page["incident_id"] as! String)
        let timeline = try await store.timeline(of: incidentID)
        #expect(timeline.contains { $0.item.kind == .acknowledged && $0.item.sinceFirstPage == .seconds(90) })
    }

    @Test(arguments: ["forged token", "wrong contact"])
    func anUntrustedReplyIsRefusedRecordedAndEscalationGoesOn(kind: String) async throws {
        _ = try await store.apply(processor.request(for: incident(), at: Self.start))
        let page = try await pages()[0]
        let forged = kind == "forged token"
            ? try reply(to: page, token: PageTokenSigner(secret: Array("guess".utf8)).token(page: page["page_id"] as! String, contact: "x"))
            : try reply(to: page, contact: "someone-else")
        _ = try await store.apply(processor.request(for: forged, at: Self.start + .seconds(30)))

        let incidentID = IncidentID(page["incident_id"] as! String)
        let refused = try await store.timeline(of: incidentID).filter { $0.item.kind == .replyRefused }
        #expect(refused.count == 1)
        #expect(refused.first?.item.summary.contains(kind == "forged token" ? "token does not match" : "reply from contact someone-else") == true)
        let state = try #require(try await store.incident(.id(incidentID))?.state)
        #expect(state.departments.allSatisfy { $0.isPaging })
    }

    @Test func aDrillSendsNoticesOnlyUnderTheDrillRoutingKey() async throws {
        _ = try await store.apply(processor.request(for: incident(severity: 1, affected: 3, drill: true), at: Self.start))
        let records = try await outbox()
        let notices = records.filter { $0.message.exchange == "notices" }
        #expect(notices.count == 3)
        #expect(notices.allSatisfy { $0.message.routingKey.hasPrefix("drill.notice.") })
        #expect(records.filter { $0.message.exchange == "pages" }.map(json).allSatisfy { $0["drill"] as? Bool == true })
    }

    @Test func resolveSendsResolvedNoticesOncePerParcelAndAFinalStatus() async throws {
        _ = try await store.apply(processor.request(for: incident(severity: 1, affected: 2), at: Self.start))
        _ = try await store.apply(processor.request(for: incident(.resolve, event: "evt-9"), at: Self.start + .seconds(3600)))
        let records = try await outbox()
        let resolved = records.filter { $0.message.routingKey == "notice.resolved" }
        #expect(resolved.map(\.message.messageID).sorted() == ["notice:\(EscalationProcessor.incidentID(forTrigger: "evt-1")):resolved:WB1", "notice:\(EscalationProcessor.incidentID(forTrigger: "evt-1")):resolved:WB2"])
        #expect(records.last { $0.message.exchange == "status" }.map(json)?["state"] as? String == "resolved")
    }

    @Test func aDueTimeClaimedAfterItsTimeMovesTheDepartmentOn() async throws {
        _ = try await store.apply(processor.request(for: incident(), at: Self.start))
        let before = try await pages().count
        let next = try #require(try await store.nextDueAt())
        let claims = try await store.claimDueTimes(now: next, lease: .seconds(30), limit: 10)
        #expect(!claims.isEmpty)
        for claim in claims {
            _ = try await store.apply(processor.request(for: claim, at: next))
        }
        let after = try await pages()
        #expect(after.count > before)
        #expect(after[before...].allSatisfy { $0["step"] as? Int == 2 || $0["round"] as? Int == 2 })
    }
}
