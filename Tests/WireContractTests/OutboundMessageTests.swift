import CallTree
import Foundation
import Testing
import WireContract

@Suite("page.v1, notice.v1 and status.v1 to the gateways and the command centre")
struct OutboundMessageTests {
    static let plan = Plan(
        severities: [SeverityLevel(.major, name: "重大")],
        incidentTypes: [
            IncidentType(id: "warehouse-fire", name: "Warehouse fire", rules: [.major: ActivationRule(departments: ["operations"], notices: [.initial])])
        ],
        departments: [
            DepartmentPlan(
                id: "operations", name: "Operations",
                callOrder: CallOrder(steps: [CallStep(contacts: ["lee"], timeout: .seconds(300))]))
        ],
        contacts: [Contact(id: "lee", name: "Lee Ka-ming", channels: [ContactChannel(.sms, "+85290000001")])])

    static func opened(drill: Bool = false) -> (IncidentState, [Action]) {
        var machine = IncidentStateMachine(plan: plan)
        let actions = machine.handle(
            .trigger(
                Trigger(
                    incident: "inc-1", key: "tw-fire", type: "warehouse-fire", severity: .major, title: "Fire at Tsuen Wan hub",
                    affected: [Parcel(waybill: "WB1", customerID: "C1")], drill: drill)),
            at: Timestamp(secondsSinceEpoch: 1_795_911_300))
        return (machine.state!, actions)
    }

    static func json(_ value: some Encodable) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(WireJSON.encode(value))) as! [String: Any]
    }

    @Test func aPageCarriesEverythingTheGatewayAndTheContactNeed() throws {
        let (incident, actions) = Self.opened()
        guard case .page(let page) = actions.first(where: { if case .page = $0 { true } else { false } }) else {
            Issue.record("no page")
            return
        }
        let message = PageMessage(page: page, incident: incident, contactName: "Lee Ka-ming", text: "Fire", token: "tok")
        let json = try Self.json(message)
        #expect(json["schema"] as? String == "page.v1")
        #expect(json["page_id"] as? String == "page:inc-1:operations:1:1:lee")
        #expect(json["incident_key"] as? String == "tw-fire")
        #expect(json["ack_deadline"] as? String == "2026-11-29T00:20:00.000Z")
        #expect((json["contact"] as? [String: String]) == ["id": "lee", "name": "Lee Ka-ming", "channel": "sms", "address": "+85290000001"])
        #expect(json["round"] as? Int == 1 && json["step"] as? Int == 1 && json["severity"] as? Int == 2)
        #expect(RoutingKey.page(page) == "page.sms.operations")
    }

    @Test func aRepublishedMessageIsByteIdentical() throws {
        let (incident, actions) = Self.opened()
        guard case .publishStatus(let update) = actions.last else {
            Issue.record("no status update")
            return
        }
        let first = WireJSON.encode(StatusMessage(update: update, incident: incident, plan: Self.plan, text: nil))
        let second = WireJSON.encode(StatusMessage(update: update, incident: incident, plan: Self.plan, text: nil))
        #expect(first == second)
    }

    @Test func aStatusUpdateListsEveryDepartmentWithEveryKey() throws {
        let (incident, actions) = Self.opened()
        guard case .publishStatus(let update) = actions.last else {
            Issue.record("no status update")
            return
        }
        let json = try Self.json(StatusMessage(update: update, incident: incident, plan: Self.plan, text: nil))
        #expect(json["update_id"] as? String == "status:inc-1:1")
        #expect(json["seq"] as? Int == 1 && json["state"] as? String == "open" && json["reason"] as? String == "opened")
        let departments = json["departments"] as? [[String: Any]]
        #expect(departments?.count == 1)
        #expect(departments?.first?["contact_id"] as? String == "lee")
        #expect(departments?.first?["acknowledged_by"] is NSNull)
        #expect(RoutingKey.status(type: incident.type, state: update.state) == "status.warehouse-fire.open")
    }

    @Test(arguments: [false, true])
    func drillNoticesTravelUnderADrillRoutingKey(drill: Bool) throws {
        let (incident, actions) = Self.opened(drill: drill)
        guard case .sendNotices(let batch) = actions.first(where: { if case .sendNotices = $0 { true } else { false } }) else {
            Issue.record("no notices")
            return
        }
        let message = NoticeMessage(batch: batch, incident: incident.id, parcel: Parcel(waybill: "WB1", customerID: "C1"), locale: "en", text: "t")
        #expect(message.noticeID == "notice:inc-1:initial:WB1")
        #expect(message.drill == drill)
        #expect(RoutingKey.notice(batch.kind, drill: batch.drill) == (drill ? "drill.notice.initial" : "notice.initial"))
    }

    /// Through the generic `Encodable` path, as `JSONEncoder` with sorted keys writes it.
    static func viaJSONEncoder<Message: Encodable>(_ message: Message) throws -> [UInt8] {
        try WireJSON.encode(message)
    }

    /// Text a gateway must get back exactly: every control character, quotes, backslashes,
    /// slashes, DEL, Chinese, an emoji, the line separators JavaScript cares about.
    static let awkwardTexts: [String] = [
        "", "plain", String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }),
        #"quote " backslash \ slash / \u0041"#, "\u{7F}del", "倉庫火警 — 荃灣 🚒", "\u{2028}\u{2029}\u{FEFF}", "\"",
    ]

    @Test func messagesWriteTheBytesJSONEncoderWould() throws {
        let (incident, actions) = Self.opened()
        var pages: [Page] = []
        var updates: [StatusUpdate] = []
        var batches: [NoticeBatch] = []
        for action in actions {
            switch action {
            case .page(let page): pages.append(page)
            case .publishStatus(let update): updates.append(update)
            case .sendNotices(let batch): batches.append(batch)
            default: break
            }
        }
        try #require(!pages.isEmpty && !updates.isEmpty && !batches.isEmpty)
        for (index, text) in Self.awkwardTexts.enumerated() {
            var page = PageMessage(page: pages[0], incident: incident, contactName: text, text: text, token: text)
            page.title = text
            page.round = -index
            page.step = Int.max - index
            #expect(WireJSON.encode(page) == (try Self.viaJSONEncoder(page)), "page with \(text.debugDescription)")

            var notice = NoticeMessage(batch: batches[0], incident: incident.id, parcel: Parcel(waybill: text, customerID: text), locale: text, text: text)
            notice.drill = index % 2 == 0
            #expect(WireJSON.encode(notice) == (try Self.viaJSONEncoder(notice)), "notice with \(text.debugDescription)")

            var status = StatusMessage(update: updates[0], incident: incident, plan: Self.plan, text: index % 2 == 0 ? nil : text)
            status.reason = text
            status.departments.append(
                StatusMessage.Department(
                    department: text, state: "acknowledged", round: index, step: nil, contactID: nil, acknowledgedBy: text,
                    acknowledgedAt: "2026-11-29T00:20:00.000Z"))
            status.departments.append(
                StatusMessage.Department(department: "b", state: "paging", round: nil, step: 2, contactID: text))
            #expect(WireJSON.encode(status) == (try Self.viaJSONEncoder(status)), "status with \(text.debugDescription)")
        }
        var empty = StatusMessage(update: updates[0], incident: incident, plan: Self.plan, text: nil)
        empty.departments = []
        #expect(WireJSON.encode(empty) == (try Self.viaJSONEncoder(empty)))
    }

    @Test func timesAreWrittenInUTCWithMilliseconds() {
        #expect(RFC3339.format(Timestamp(millisecondsSinceEpoch: 1_795_911_300_123)) == "2026-11-29T00:15:00.123Z")
        #expect(RFC3339.parse("2026-11-29T08:15:00.123+08:00") == Timestamp(millisecondsSinceEpoch: 1_795_911_300_123))
        #expect(RFC3339.format(Timestamp(millisecondsSinceEpoch: 951_782_400_000)) == "2000-02-29T00:00:00.000Z")
        #expect(RFC3339.format(Timestamp(millisecondsSinceEpoch: -1)) == "1969-12-31T23:59:59.999Z")
        for milliseconds in stride(from: Int64(0), to: 4_102_444_800_000, by: 86_399_999_937) {
            let time = Timestamp(millisecondsSinceEpoch: milliseconds)
            #expect(RFC3339.parse(RFC3339.format(time)) == time)
        }
    }
}
