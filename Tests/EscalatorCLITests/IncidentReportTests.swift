import CallTree
import EscalatorCLI
import Foundation
import IncidentStore
import IncidentStoreSQLite
import Logging
import Testing
import WireContract
import Worker

/// `escalator incidents` and `escalator timeline` on a SQLite store filled the way a worker fills
/// it: the escalation processor on the sample plan, one store request per message.
@Suite("incidents and timeline from the store")
struct IncidentReportTests {
    static let start = Timestamp(secondsSinceEpoch: 1_795_939_200)  // 2026-11-29T08:00:00Z

    let folder: URL
    let storePath: String
    let store: SQLiteIncidentStore
    let processor = EscalationProcessor(renderer: sampleRenderer, signer: PageTokenSigner(secret: Array(testSecret.utf8)))

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("escalator-cli-store-\(UUID().uuidString)")
        storePath = folder.appendingPathComponent("escalator.sqlite").path
        store = try SQLiteIncidentStore(
            configuration: SQLiteIncidentStoreConfiguration(path: storePath), logger: Logger(label: "test"))
    }

    func event(_ action: IncidentMessage.Action, id: String, key: String, type: String = "warehouse-fire", severity: Int = 1, drill: Bool = false)
        throws -> IncidentMessage
    {
        let body = IncidentEventBody(
            eventID: id, action: action, incidentKey: key, type: action == .trigger ? type : nil,
            severity: action == .trigger ? severity : nil, title: action == .trigger ? "Fire alarm at \(key)" : nil,
            details: action == .resolve ? "Fire out" : nil, occurredAt: action == .trigger ? "2026-11-29T08:00:00Z" : nil,
            drill: drill)
        return try IncidentMessage(bytes: WireJSON.encode(body), knownTypes: processor.knownTypes)
    }

    @discardableResult
    func apply(_ message: IncidentMessage, after offset: Duration) async throws -> ApplyOutcome {
        try await store.apply(processor.request(for: message, at: Self.start + offset))
    }

    /// The first page to `department` in the outbox, as a gateway would have received it.
    func page(of department: String) async throws -> (id: String, contact: String) {
        let pages = try await store.unpublishedOutbox(limit: 10_000).filter { $0.message.exchange == "pages" }
        for record in pages {
            let json = try #require(try JSONSerialization.jsonObject(with: record.message.body) as? [String: Any])
            if json["department"] as? String == department {
                return (json["page_id"] as! String, (json["contact"] as! [String: Any])["id"] as! String)
            }
        }
        throw TestTimeout(what: "a page to \(department)")
    }

    func acknowledge(_ department: String, after offset: Duration) async throws {
        let page = try await page(of: department)
        let reply = try ReplyPublishing.reply(
            from: .init(page: page.id), signer: processor.signer, now: Date(timeIntervalSince1970: 1_795_939_200))
        _ = try await store.apply(processor.request(for: reply.message, at: Self.start + offset))
    }

    @Test func openIncidentsAreListedAndResolvedOnesOnlyWithAll() async throws {
        try await apply(event(.trigger, id: "e1", key: "kc-hub-fire"), after: .zero)
        try await apply(event(.trigger, id: "e2", key: "tm-depot-fire", severity: 4, drill: true), after: .seconds(5))
        try await apply(event(.resolve, id: "e3", key: "kc-hub-fire"), after: .seconds(20 * 60))

        let open = try await IncidentReports.incidents(in: store, includeResolved: false)
        #expect(open.map(\.key) == ["tm-depot-fire"])
        let all = try await IncidentReports.incidents(in: store, includeResolved: true)
        #expect(all.map(\.key) == ["kc-hub-fire", "tm-depot-fire"])
        #expect(try await IncidentReports.incidents(in: store, includeResolved: true, limit: 1).map(\.key) == ["tm-depot-fire"])

        let text = IncidentReports.incidentsText(all, includeResolved: true)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("ID "))
        #expect(lines[1].contains("kc-hub-fire") && lines[1].contains(" I ") && lines[1].contains("resolved"))
        #expect(lines[1].contains("6 engaged: 6 not acknowledged"))
        #expect(lines[2].contains("tm-depot-fire") && lines[2].contains(" IV ") && lines[2].contains("open (drill)"))
        #expect(lines[2].contains("2 engaged: 2 paging"))
        #expect(lines[3] == "2 incidents")
        #expect(IncidentReports.incidentsText([], includeResolved: false) == "No open incidents.\n")

        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(IncidentReports.incidentsJSON(all).utf8)) as? [[String: Any]])
        #expect(json.map { $0["state"] as? String } == ["resolved", "open"])
        #expect(json[0]["resolved_at"] as? String == "2026-11-29T08:20:00.000Z")
        #expect((json[1]["departments"] as? [[String: Any]])?.map { $0["state"] as? String } == ["paging", "paging"])
    }

    @Test func anAcknowledgedDepartmentIsSummarisedByName() async throws {
        try await apply(event(.trigger, id: "e1", key: "kc-hub-fire"), after: .zero)
        try await acknowledge("operations", after: .seconds(90))
        let open = try await IncidentReports.incidents(in: store, includeResolved: false)
        #expect(IncidentReports.incidentsText(open, includeResolved: false).contains("6 engaged: 1 acknowledged (operations), 5 paging"))
    }

    @Test func theTimelineIsInTimeOrderWithOffsetsAndTimeToAcknowledge() async throws {
        try await apply(event(.trigger, id: "e1", key: "kc-hub-fire"), after: .zero)
        try await acknowledge("operations", after: .seconds(90))
        try await apply(event(.resolve, id: "e2", key: "kc-hub-fire"), after: .seconds(3 * 60))

        let report = try await IncidentReports.timeline(of: "kc-hub-fire", in: store)
        #expect(report.records.map(\.item.at) == report.records.map(\.item.at).sorted())
        #expect(report.records.first?.item.kind == .opened)
        #expect(report.records.contains { $0.item.kind == .resolved })

        let text = IncidentReports.timelineText(report)
        #expect(text.contains("Incident \(report.incident.id) (key kc-hub-fire): Fire alarm at kc-hub-fire"))
        #expect(text.contains("warehouse-fire, severity I, opened 2026-11-29T08:00:00.000Z, now resolved at +3m by upstream"))
        let acknowledged = try #require(text.split(separator: "\n").first { $0.contains("acknowledged") && $0.hasPrefix("+") })
        #expect(acknowledged.hasPrefix("+1m30s"))
        #expect(acknowledged.contains("operations") && acknowledged.contains("lee-dispatch"))
        #expect(text.contains("Time to acknowledge:"))
        #expect(text.contains("  operations         1m30s after the first page — lee-dispatch 1m30s"))
        #expect(text.contains("  finance            not acknowledged before the resolution (paging had reached round 1 step 1)"))

        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(IncidentReports.timelineJSON(report).utf8)) as? [String: Any])
        let acks = try #require(json["time_to_acknowledge"] as? [[String: Any]])
        #expect(acks.contains { $0["department"] as? String == "operations" && $0["contact"] == nil && $0["fastest_ms"] as? Int == 90_000 })
        #expect(acks.contains { $0["contact"] as? String == "lee-dispatch" })
        let entries = try #require(json["timeline"] as? [[String: Any]])
        #expect(entries.count == report.records.count)
        #expect(entries.last?["offset_ms"] as? Int == 180_000)
    }

    @Test func theTimelineIsFoundByIDAsByKey() async throws {
        try await apply(event(.trigger, id: "e1", key: "kc-hub-fire"), after: .zero)
        let byKey = try await IncidentReports.timeline(of: "kc-hub-fire", in: store)
        let byID = try await IncidentReports.timeline(of: byKey.incident.id.rawValue, in: store)
        #expect(byID.incident.id == byKey.incident.id)
        #expect(byID.records == byKey.records)
    }

    @Test func anUnknownIncidentIsAnErrorPointingToTheListing() async throws {
        let error = await #expect(throws: CommandFailure.self) { try await IncidentReports.timeline(of: "no-such", in: store) }
        #expect(error?.message.contains("no incident with id or key 'no-such'") == true)
        #expect(error?.message.contains("escalator incidents --all") == true)
    }

    @Test func readingAStoreThatIsNotThereFailsWithoutCreatingIt() async throws {
        let missing = folder.appendingPathComponent("elsewhere/escalator.sqlite").path
        let settings = try operatorSettings(store: missing, url: "amqp://guest:guest@127.0.0.1:1/%2F")
        let error = await #expect(throws: CommandFailure.self) {
            try await settings.withStoreForReading(logger: quietLogger) { _ in 0 }
        }
        #expect(error?.message.contains("there is no store at \(missing)") == true)
        #expect(!FileManager.default.fileExists(atPath: missing))
        let existing = try operatorSettings(store: storePath, url: "amqp://guest:guest@127.0.0.1:1/%2F")
        #expect(try await existing.withStoreForReading(logger: quietLogger) { _ in 1 } == 1)
    }
}
