import CallTree

/// A small warehouse-fire plan, readable at a glance:
///
/// | department | steps (timeout) | rounds | fallback |
/// |---|---|---|---|
/// | operations | lee (5m) → wong + chan (5m) | 2 | command-centre |
/// | customer-service | mei (10m) | 1 | command-centre |
/// | command-centre | duty (5m) | 3 | — |
/// | finance | fong (30m) | 1 | — |
///
/// warehouse-fire I engages operations, customer-service, finance and sends every notice kind;
/// II engages operations and customer-service with initial and resolved notices; III engages
/// operations only; IV has no rule.
enum Fixtures {
    static let start = Timestamp(secondsSinceEpoch: 1_800_000_000)
    static let incident: IncidentID = "inc-1"

    static let plan = Plan(
        name: "test",
        defaultLocale: "en",
        severities: [
            SeverityLevel(.critical, name: "特別重大", statusCadence: .seconds(15 * 60)),
            SeverityLevel(.major, name: "重大", statusCadence: .seconds(30 * 60)),
            SeverityLevel(.serious, name: "較大", statusCadence: nil),
            SeverityLevel(.general, name: "一般", statusCadence: nil),
        ],
        incidentTypes: [
            IncidentType(
                id: "warehouse-fire", name: "Warehouse fire",
                rules: [
                    .critical: ActivationRule(
                        departments: ["operations", "customer-service", "finance"],
                        notices: [.initial, .progress, .resolved, .compensation]),
                    .major: ActivationRule(departments: ["operations", "customer-service"], notices: [.initial, .resolved]),
                    .serious: ActivationRule(departments: ["operations"]),
                ])
        ],
        departments: [
            DepartmentPlan(
                id: "operations", name: "Operations",
                responsibilities: ["Reroute parcels around the site"],
                callOrder: CallOrder(
                    steps: [
                        CallStep(contacts: ["lee"], timeout: .seconds(300)),
                        CallStep(contacts: ["wong", "chan"], timeout: .seconds(300)),
                    ],
                    rounds: 2, fallback: "command-centre")),
            DepartmentPlan(
                id: "customer-service", name: "Customer service",
                callOrder: CallOrder(
                    steps: [CallStep(contacts: ["mei"], timeout: .seconds(600))], rounds: 1, fallback: "command-centre")),
            DepartmentPlan(
                id: "command-centre", name: "Command centre",
                callOrder: CallOrder(steps: [CallStep(contacts: ["duty"], timeout: .seconds(300))], rounds: 3)),
            DepartmentPlan(
                id: "finance", name: "Finance",
                callOrder: CallOrder(steps: [CallStep(contacts: ["fong"], timeout: .seconds(1800))], rounds: 1)),
        ],
        contacts: [
            Contact(id: "lee", name: "Lee", channels: [ContactChannel(.phone, "+85210000001"), ContactChannel(.sms, "+85210000001")]),
            Contact(id: "wong", name: "Wong", channels: [ContactChannel(.sms, "+85210000002")]),
            Contact(id: "chan", name: "Chan", channels: [ContactChannel(.im, "chan@im")]),
            Contact(id: "mei", name: "Mei", channels: [ContactChannel(.email, "mei@example.com")]),
            Contact(id: "duty", name: "Duty officer", channels: [ContactChannel(.phone, "+85210000009")], mayResolve: true),
            Contact(id: "fong", name: "Fong", channels: [ContactChannel(.email, "fong@example.com")]),
        ])

    static func trigger(
        _ severity: Severity, affected: [Parcel] = [], drill: Bool = false, type: IncidentTypeID = "warehouse-fire"
    ) -> Event {
        .trigger(
            Trigger(
                incident: incident, key: "tsuen-wan-fire", type: type, severity: severity,
                title: "Fire at Tsuen Wan hub", affected: affected, drill: drill))
    }

    static func parcels(_ count: Int, from first: Int = 1) -> [Parcel] {
        (first..<(first + count)).map { Parcel(waybill: "WB\($0)", customerID: "C\($0)") }
    }

    static func page(_ department: DepartmentID, round: Int = 1, step: Int = 1, contact: ContactID) -> PageID {
        PageID(incident: incident, department: department, position: StepPosition(round: round, step: step), contact: contact)
    }

    static func reply(
        _ action: ReplyAction, _ page: PageID, from contact: ContactID? = nil, id: String = "r-1"
    ) -> Event {
        .reply(Reply(replyID: id, page: page, contact: contact ?? page.contact, action: action))
    }

    static func minutes(_ minutes: Int64) -> Timestamp {
        start + .seconds(minutes * 60)
    }
}
