import CallTree

/// A small plan for the store's tests, its multi-process helper and its benchmark: a warehouse
/// fire of severity II engages operations, whose call order is three single-contact steps of
/// five minutes each, then falls back to the command centre.
public enum FixturePlan {
    public static let type: IncidentTypeID = "warehouse-fire"
    public static let operations: DepartmentID = "operations"
    public static let commandCentre: DepartmentID = "command-centre"
    public static let lee: ContactID = "lee"
    public static let chan: ContactID = "chan"
    public static let wong: ContactID = "wong"
    public static let chief: ContactID = "chief"
    public static let stepTimeout: Duration = .seconds(300)

    public static let plan = Plan(
        name: "fixture",
        severities: [
            SeverityLevel(.critical, name: "特別重大", statusCadence: .seconds(900)),
            SeverityLevel(.major, name: "重大"),
            SeverityLevel(.serious, name: "較大"),
            SeverityLevel(.general, name: "一般"),
        ],
        incidentTypes: [
            IncidentType(
                id: type, name: "Warehouse fire",
                rules: [
                    .critical: ActivationRule(
                        departments: [operations, commandCentre], notices: [.initial, .progress, .resolved]),
                    .major: ActivationRule(departments: [operations], notices: [.initial, .resolved]),
                ])
        ],
        departments: [
            DepartmentPlan(
                id: operations, name: "Operations",
                callOrder: CallOrder(
                    steps: [
                        CallStep(contacts: [lee], timeout: stepTimeout),
                        CallStep(contacts: [chan], timeout: stepTimeout),
                        CallStep(contacts: [wong], timeout: stepTimeout),
                    ], rounds: 1, fallback: commandCentre)),
            DepartmentPlan(
                id: commandCentre, name: "Command centre",
                callOrder: CallOrder(steps: [CallStep(contacts: [chief], timeout: stepTimeout)], rounds: 2)),
        ],
        contacts: [
            Contact(id: lee, name: "Lee", channels: [ContactChannel(.sms, "+85200000001")]),
            Contact(id: chan, name: "Chan", channels: [ContactChannel(.phone, "+85200000002")]),
            Contact(id: wong, name: "Wong", channels: [ContactChannel(.im, "wong@im")], mayResolve: true),
            Contact(id: chief, name: "Chief", channels: [ContactChannel(.phone, "+85200000009")], mayResolve: true),
        ])
}
