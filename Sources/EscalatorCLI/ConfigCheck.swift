public import CallTree
public import PlanFile
public import Rendering

/// `escalator check-config`: the plan loaded and checked, summarised on one screen.
public enum ConfigCheck {
    public enum Outcome: Sendable {
        case valid(Renderer, summary: String)
        case invalid([PlanProblem])
    }

    public static func run(path: String) -> Outcome {
        do {
            let renderer = try Renderer.load(contentsOf: path)
            return .valid(renderer, summary: summary(renderer))
        } catch {
            return .invalid(error.problems)
        }
    }

    /// Types, departments, contacts, and for each type and severity the longest time from the
    /// trigger until the last department still being paged gives up (nobody answering).
    public static func summary(_ renderer: Renderer) -> String {
        let document = renderer.document
        let plan = document.plan
        var lines: [String] = []
        lines.append("\(document.file): \(plan.name) — OK")
        lines.append(
            "\(plan.incidentTypes.count) incident types, \(plan.severities.count) severities, "
                + "\(plan.departments.count) departments, \(plan.contacts.count) contacts, locales \(document.locales.joined(separator: ", "))"
        )
        lines.append("")
        lines.append("Departments (steps × rounds → fallback):")
        for department in plan.departments {
            let order = department.callOrder
            let walk = order.steps.reduce(Duration.zero) { $0 + $1.timeout } * order.rounds
            lines.append(
                "  \(department.id.rawValue.padding(18)) \(department.name.padding(12)) \(order.steps.count) step\(order.steps.count == 1 ? "" : "s") × \(order.rounds), \(DurationText.format(walk))"
                    + " → \(order.fallback?.rawValue ?? "none")")
        }
        lines.append("")
        let severities = plan.severities.map(\.severity)
        lines.append("Longest time from trigger to exhausted, nobody answering:")
        lines.append("  " + "type".padding(18) + severities.map { $0.roman.padding(10) }.joined())
        for type in plan.incidentTypes {
            var row = "  " + type.id.rawValue.padding(18)
            for severity in severities {
                row += (exhaustion(renderer, type.id, severity).map(DurationText.format) ?? "—").padding(10)
            }
            lines.append(row)
        }
        lines.append("  (— pages nobody)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// When the last step of the incident times out with no ack at all; nil when the rule pages
    /// nobody.
    public static func exhaustion(_ renderer: Renderer, _ type: IncidentTypeID, _ severity: Severity) -> Duration? {
        let simulation = Simulation(
            renderer: renderer,
            options: .init(type: type, severity: severity, start: Timestamp(millisecondsSinceEpoch: 0)))
        let timeouts = simulation.run().entries.filter { $0.kind == .exhausted }
        return timeouts.last.map { .milliseconds($0.offsetMilliseconds) }
    }
}

extension String {
    /// Pads to a width counted in terminal columns: CJK characters take two.
    func padding(_ width: Int) -> String {
        let columns = reduce(0) { $0 + ($1.unicodeScalars.first.map { $0.value >= 0x1100 ? 2 : 1 } ?? 1) }
        return self + String(repeating: " ", count: max(1, width - columns))
    }
}
