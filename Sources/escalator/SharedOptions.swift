import ArgumentParser
import EscalatorCLI
import Foundation

/// `--plan`, shared by every command that reads the plan.
struct PlanOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The plan file.", valueName: "path"))
    var plan: String = "config/plan.yaml"
}

/// `--config`, shared by every command that talks to the broker or the store: the workers'
/// settings file, each setting overridable by its ESCALATOR_* environment variable.
struct SettingsOption: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The settings file; ESCALATOR_AMQP_URL, ESCALATOR_STORE, ESCALATOR_PLAN, ... override it.", valueName: "path"))
    var config: String = "config/escalator.yaml"

    func load() throws(CommandFailure) -> OperatorSettings {
        try OperatorSettings.load(file: config)
    }
}

/// `--format text|json` of the reporting commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Runs a command's work, turning a `CommandFailure` into its message on standard error and its
/// exit status.
func reportingFailures(_ work: () async throws(CommandFailure) -> Void) async throws {
    do {
        try await work()
    } catch {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        throw ExitCode(error.exitCode)
    }
}

/// Writes at once: output piped to a file or another program is not held in a buffer, so a
/// watch that is stopped with a signal has shown everything it received.
func writeLine(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
