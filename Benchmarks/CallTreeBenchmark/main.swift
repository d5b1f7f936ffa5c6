// Transitions per second of the pure call-tree core on a six-department plan: each incident is
// triggered, times out through two full rounds in every department, is acknowledged department
// by department, and is resolved. Run with `swift run -c release CallTreeBenchmark [incidents]`.
import CallTree

#if canImport(Glibc)
import Glibc
#endif

let departments = (1...6).map { DepartmentID("department-\($0)") }
let plan = Plan(
    severities: [SeverityLevel(.critical, name: "I", statusCadence: .seconds(15 * 60))],
    incidentTypes: [
        IncidentType(
            id: "warehouse-fire", name: "Warehouse fire",
            rules: [.critical: ActivationRule(departments: departments, notices: [.initial, .progress, .resolved])])
    ],
    departments: departments.map { department in
        DepartmentPlan(
            id: department, name: department.rawValue,
            callOrder: CallOrder(
                steps: (1...3).map { step in
                    CallStep(contacts: [ContactID("\(department)-\(step)")], timeout: .seconds(300))
                },
                rounds: 3))
    },
    contacts: departments.flatMap { department in
        (1...3).map { step in
            Contact(id: ContactID("\(department)-\(step)"), name: "\(department) \(step)", channels: [ContactChannel(.sms, "+852")])
        }
    })

func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// One incident's whole life; returns the number of transitions and actions.
func runIncident(_ number: Int) -> (transitions: Int, actions: Int) {
    var machine = IncidentStateMachine(plan: plan)
    let start = Timestamp(secondsSinceEpoch: 1_900_000_000)
    let incident = IncidentID("inc-\(number)")
    var transitions = 1
    var actions = machine.handle(
        .trigger(Trigger(incident: incident, key: "k\(number)", type: "warehouse-fire", severity: .critical, title: "Fire")),
        at: start
    ).count
    // Two full rounds of three steps, every department timing out together.
    var now = start
    for round in 1...2 {
        for step in 1...3 {
            now = now + .seconds(300)
            for department in departments {
                actions += machine.handle(.dueTimeReached(.stepDeadline(department, StepPosition(round: round, step: step))), at: now).count
                transitions += 1
            }
        }
    }
    for department in departments {
        let page = PageID(incident: incident, department: department, position: StepPosition(round: 3, step: 1), contact: ContactID("\(department)-1"))
        actions += machine.handle(.reply(Reply(replyID: "r", page: page, contact: page.contact, action: .ack)), at: now).count
        transitions += 1
    }
    actions += machine.handle(.resolve(note: nil), at: now).count
    return (transitions + 1, actions)
}

let incidents = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 20_000
_ = runIncident(0)  // warm up
var best = 0.0
for run in 1...3 {
    let started = monotonicNanoseconds()
    var transitions = 0
    var actions = 0
    for number in 0..<incidents {
        let result = runIncident(number)
        transitions += result.transitions
        actions += result.actions
    }
    let seconds = Double(monotonicNanoseconds() - started) / 1e9
    let rate = Double(transitions) / seconds
    best = max(best, rate)
    print(
        "run \(run): \(incidents) incidents, \(transitions) transitions, \(actions) actions in \((seconds * 1000).rounded() / 1000) s: \(Int(rate)) transitions/s"
    )
}
print("best: \(Int(best)) transitions/s on one core (goal 1,000,000)")
