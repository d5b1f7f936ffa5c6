import CallTree
import Foundation
import IncidentStore
import IncidentStoreFixtures
import Testing

@Suite("Stored incident states")
struct StoredStateEncodingTests {
    static let awkward = "quote \" back\\slash new\nline \u{07}\u{00} 倉庫火警 🚒 \u{2028}"

    /// Every state an incident of the fixture plan passes through: operations exhausted and
    /// falling back to the command centre, or the severity raised so both are engaged (with a
    /// cadence); an ack, a contact's resolution; strings with quotes, control characters and
    /// non-ASCII text.
    static func statesOfAStory(raisingSeverity: Bool) -> [IncidentState] {
        var machine = IncidentStateMachine(plan: FixturePlan.plan)
        var now = Timestamp(secondsSinceEpoch: 1_795_911_300)
        var states: [IncidentState] = []
        var due: [DueTime] = []
        var pages: [Page] = []
        func handle(_ event: Event) {
            for action in machine.handle(event, at: now) {
                switch action {
                case .scheduleDue(let time): due.append(time)
                case .cancelDue(let id): due.removeAll { $0.id == id }
                case .page(let page): pages.append(page)
                default: break
                }
            }
            if let state = machine.state { states.append(state) }
        }
        handle(
            .trigger(
                Trigger(
                    incident: "inc-story", key: "key \(awkward)", type: FixturePlan.type, severity: .major,
                    title: awkward, details: awkward, site: "荃灣", region: nil, occurredAt: now, eta: now + .seconds(3600),
                    affected: [Parcel(waybill: "WB1", customerID: "C1", locale: "zh-Hant")])))
        now = now + .seconds(60)
        if raisingSeverity {
            handle(.update(Update(severity: .critical, title: "raised", affected: [Parcel(waybill: "WB2", customerID: "C2")])))
        }
        for _ in 0..<8 {
            guard let next = due.min(by: { $0.at < $1.at }) else { break }
            due.removeAll { $0 == next }
            now = next.at
            handle(.dueTimeReached(next.id))
        }
        if let chiefPage = pages.last(where: { $0.contact == FixturePlan.chief }) {
            handle(.reply(Reply(replyID: "r1", page: chiefPage.id, contact: FixturePlan.chief, action: .ack, note: awkward)))
            handle(.reply(Reply(replyID: "r2", page: chiefPage.id, contact: FixturePlan.chief, action: .resolve, note: awkward)))
        }
        return states
    }

    @Test func everyStateReadsBackAsTheSameStateAndTheSameJSONAsJSONEncoderWrites() throws {
        let states = Self.statesOfAStory(raisingSeverity: false) + Self.statesOfAStory(raisingSeverity: true)
        // The story reached what the encoding has to carry.
        #expect(states.count >= 8)
        #expect(states.contains { $0.departments.contains { if case .fallback = $0.reason { true } else { false } } })
        #expect(states.contains { $0.departments.contains { if case .severityRaised = $0.reason { true } else { false } } })
        #expect(states.last?.resolution?.by == .contact(FixturePlan.chief))
        for state in states {
            let stored = try state.storedJSON(message: "m")
            #expect(try StoredIncident(id: state.id.rawValue, storedJSON: stored, version: 1).state == state)
            let written = try JSONSerialization.jsonObject(with: stored) as? NSDictionary
            let expected = try JSONSerialization.jsonObject(with: JSONEncoder().encode(state)) as? NSDictionary
            #expect(written != nil && written == expected)
        }
    }
}
