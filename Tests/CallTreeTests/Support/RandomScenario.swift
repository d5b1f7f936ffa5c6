import CallTree

/// SplitMix64: a tiny deterministic generator, so a failing seed reproduces the same plan and
/// events anywhere.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A random plan and a random story of one incident on it: timeouts, acks (right and wrong),
/// escalations, updates and resolves, with due times fired in order as a worker would.
struct RandomScenario {
    let plan: Plan
    /// Every event fed to the machine with its time, due times included, in order.
    private(set) var events: [(Event, Timestamp)] = []

    static let start = Timestamp(secondsSinceEpoch: 1_900_000_000)

    init(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        plan = Self.randomPlan(&random)
        events = Self.randomStory(plan: plan, &random)
    }

    static func randomPlan(_ random: inout SeededGenerator) -> Plan {
        let contacts = (1...Int.random(in: 2...8, using: &random)).map { index in
            Contact(
                id: ContactID("c\(index)"), name: "Contact \(index)",
                channels: (0..<Int.random(in: 1...3, using: &random)).map { _ in
                    ContactChannel(Channel.allCases.randomElement(using: &random)!, "addr-\(index)")
                },
                mayResolve: Bool.random(using: &random))
        }
        let departmentIDs = (1...Int.random(in: 1...6, using: &random)).map { DepartmentID("d\($0)") }
        let departments = departmentIDs.map { id in
            DepartmentPlan(
                id: id, name: id.rawValue,
                callOrder: CallOrder(
                    steps: (0..<Int.random(in: 1...3, using: &random)).map { _ in
                        CallStep(
                            contacts: Array(contacts.map(\.id).shuffled(using: &random).prefix(Int.random(in: 1...3, using: &random))),
                            timeout: .seconds(60 * Int64.random(in: 1...30, using: &random)))
                    },
                    rounds: Int.random(in: 1...3, using: &random),
                    // Cycles included: the machine must stay finite even on a plan the loader would refuse.
                    fallback: Bool.random(using: &random) ? departmentIDs.randomElement(using: &random) : nil))
        }
        var rules: [Severity: ActivationRule] = [:]
        for severity in Severity.allCases where Int.random(in: 0..<5, using: &random) > 0 {
            rules[severity] = ActivationRule(
                departments: Array(departmentIDs.shuffled(using: &random).prefix(Int.random(in: 0...departmentIDs.count, using: &random))),
                notices: Set(NoticeKind.allCases.filter { _ in Bool.random(using: &random) }))
        }
        return Plan(
            severities: Severity.allCases.map { severity in
                SeverityLevel(
                    severity, name: severity.roman,
                    statusCadence: Bool.random(using: &random) ? .seconds(60 * Int64.random(in: 5...60, using: &random)) : nil)
            },
            incidentTypes: [IncidentType(id: "random", name: "Random", rules: rules)],
            departments: departments, contacts: contacts)
    }

    static func randomStory(plan: Plan, _ random: inout SeededGenerator) -> [(Event, Timestamp)] {
        var driver = Driver(plan: plan, at: start)
        var parcel = 0

        func parcels() -> [Parcel] {
            (0..<Int.random(in: 0...3, using: &random)).map { _ in
                parcel += 1
                return Parcel(waybill: "W\(parcel)", customerID: "C\(parcel)")
            }
        }

        driver.send(
            .trigger(
                Trigger(
                    incident: "inc-r", key: "key", type: "random", severity: Severity.allCases.randomElement(using: &random)!,
                    title: "random", affected: parcels(), drill: Bool.random(using: &random))))
        for _ in 0..<Int.random(in: 5...40, using: &random) {
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4:
                driver.advance(minutes: Int64.random(in: 1...20, using: &random))
            case 4..<8:
                let sentPages = driver.log.pages.map(\.id)
                guard !sentPages.isEmpty else { continue }
                let page = sentPages.randomElement(using: &random)!
                let contact = Int.random(in: 0..<4, using: &random) == 0 ? plan.contacts.randomElement(using: &random)!.id : page.contact
                let action = [ReplyAction.ack, .ack, .ack, .escalate, .escalate, .resolve].randomElement(using: &random)!
                driver.send(.reply(Reply(replyID: "r\(driver.events.count)", page: page, contact: contact, action: action)))
            case 8:
                driver.send(.update(Update(severity: Severity.allCases.randomElement(using: &random)!, affected: parcels())))
            default:
                if Int.random(in: 0..<4, using: &random) == 0 { driver.send(.resolve(note: nil)) }
            }
            driver.advance(to: driver.now + .seconds(Int64.random(in: 0...90, using: &random)))
        }
        let events = driver.events
        return events
    }
}
