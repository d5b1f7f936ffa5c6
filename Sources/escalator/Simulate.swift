import ArgumentParser
import CallTree
import EscalatorCLI
import Foundation
import PlanFile
import Rendering

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the plan on a virtual clock and print what it would do.",
        discussion: """
            A dry run for a plan review or before a drill: no broker, no store. The incident is \
            triggered at +0m; every step timeout, ack, escalation, status update and customer \
            notice follows in time order. An ack at the very moment a step times out counts as in \
            time. The run ends when the incident is resolved, when nobody is left to page, or at \
            the horizon.

            Examples:
              escalator simulate --type vehicle-accident --severity 2
              escalator simulate --type warehouse-fire --severity 1 \\
                --ack site-supervisor@3m --ack operations:tam-mei-yee@7m \\
                --escalate customer-service@2m --resolve-after 2h \\
                --affected 120 --locale en
              escalator simulate --type parcel-loss --severity 3 --drill --format json
            """
    )

    @OptionGroup var planOption: PlanOption

    @Option(help: ArgumentHelp("The incident type, such as warehouse-fire.", valueName: "type"))
    var type: String

    @Option(help: ArgumentHelp("1 (I, most severe) to 4 (IV).", valueName: "n"))
    var severity: String

    @Option(
        help: ArgumentHelp(
            "A department acknowledges: by its first contact paged, or by a named one. Repeatable.",
            valueName: "dept[:contact]@duration"))
    var ack: [String] = []

    @Option(
        help: ArgumentHelp("A department's current step passes the page on. Repeatable.", valueName: "dept[:contact]@duration"))
    var escalate: [String] = []

    @Option(name: .customLong("resolve-after"), help: ArgumentHelp("Upstream resolves the incident.", valueName: "duration"))
    var resolveAfter: String?

    @Option(help: ArgumentHelp("Affected parcels, SIM000001 onwards.", valueName: "n"))
    var affected: Int = 0

    @Flag(help: "Simulate a drill: every text is marked as one.")
    var drill = false

    @Option(help: ArgumentHelp("The customers' locale (and the status texts'); the plan's default otherwise.", valueName: "locale"))
    var locale: String?

    @Option(help: ArgumentHelp("The incident title in the texts.", valueName: "text"))
    var title: String?

    @Option(help: ArgumentHelp("Expected recovery, after the trigger.", valueName: "duration"))
    var eta: String?

    @Option(help: ArgumentHelp("Stop simulating after this long.", valueName: "duration"))
    var horizon: String = "24h"

    @Option(help: "text or json.")
    var format: OutputFormat = .text

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    func run() async throws {
        let renderer: Renderer
        switch ConfigCheck.run(path: planOption.plan) {
        case .valid(let loaded, _):
            renderer = loaded
        case .invalid(let problems):
            for problem in problems {
                FileHandle.standardError.write(Data((problem.description + "\n").utf8))
            }
            FileHandle.standardError.write(Data("the plan is not valid; run escalator check-config\n".utf8))
            throw ExitCode(1)
        }
        guard let severity = SimulationArguments.severity(severity) else {
            throw ValidationError("--severity must be 1, 2, 3 or 4 (or I, II, III, IV), not '\(self.severity)'")
        }
        let now = Int64(Date().timeIntervalSince1970) / 60 * 60
        var options = Simulation.Options(
            type: IncidentTypeID(type), severity: severity, start: Timestamp(secondsSinceEpoch: now))
        do {
            options.acks = try ack.map(SimulationArguments.reply)
            options.escalations = try escalate.map(SimulationArguments.reply)
            options.resolveAfter = try resolveAfter.map { try SimulationArguments.duration($0, "--resolve-after") }
            options.eta = try eta.map { try SimulationArguments.duration($0, "--eta") }
            options.horizon = try SimulationArguments.duration(horizon, "--horizon")
        } catch let error as SimulationArguments.Invalid {
            throw ValidationError(error.message)
        }
        guard affected >= 0 else { throw ValidationError("--affected must be 0 or more") }
        options.affected = affected
        options.drill = drill
        options.locale = locale
        options.title = title
        let simulation = Simulation(renderer: renderer, options: options)
        let problems = simulation.problems()
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "\n")) }
        let timeline = simulation.run()
        print(format == .json ? timeline.json() : timeline.text(), terminator: "")
    }
}
