public import CallTree
import PlanFile

/// The command-line forms of simulation options, parsed where tests can reach them.
public enum SimulationArguments {
    public struct Invalid: Error, Sendable {
        public var message: String
    }

    /// `1`...`4` or `I`...`IV`.
    public static func severity(_ text: String) -> Severity? {
        if let number = Int(text) { return Severity(rawValue: number) }
        return Severity.allCases.first { $0.roman == text.uppercased() }
    }

    /// `operations@5m` or `operations:tam-mei-yee@5m`.
    public static func reply(_ text: String) throws(Invalid) -> Simulation.Options.Reply {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else {
            throw Invalid(message: "'\(text)' must be written department@duration or department:contact@duration, such as operations@5m")
        }
        let who = parts[0].split(separator: ":", omittingEmptySubsequences: false)
        guard who.count <= 2, who.allSatisfy({ !$0.isEmpty }) else {
            throw Invalid(message: "'\(text)' must be written department@duration or department:contact@duration")
        }
        let after = try duration(String(parts[1]), "'\(text)'", allowZero: true)
        return .init(
            department: DepartmentID(String(who[0])), contact: who.count == 2 ? ContactID(String(who[1])) : nil, after: after)
    }

    public static func duration(_ text: String, _ what: String, allowZero: Bool = false) throws(Invalid) -> Duration {
        if allowZero, ["0", "0s", "0m", "0h"].contains(text) { return .zero }
        switch DurationText.parse(text) {
        case .success(let duration): return duration
        case .failure(.notPositive): throw Invalid(message: "\(what): the duration must be longer than zero")
        case .failure(.notADuration): throw Invalid(message: "\(what): '\(text)' is not a duration such as 90s, 5m or 1h30m")
        }
    }
}
