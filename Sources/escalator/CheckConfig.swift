import ArgumentParser
import EscalatorCLI
import Foundation
import PlanFile

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check the plan file and summarise it, or list every problem in it.",
        discussion: """
            Exits 0 and prints a summary: incident types, departments, contacts, and the longest \
            time from trigger to exhausted for each type and severity. Exits 1 and prints every \
            problem, one per line as path:line:col: message, when the plan is not valid.

            Example:
              escalator check-config --plan config/plan.yaml
            """
    )

    @OptionGroup var options: PlanOption

    func run() async throws {
        switch ConfigCheck.run(path: options.plan) {
        case .valid(_, let summary):
            print(summary, terminator: "")
        case .invalid(let problems):
            for problem in problems {
                FileHandle.standardError.write(Data((problem.description + "\n").utf8))
            }
            FileHandle.standardError.write(Data("\(problems.count) problem\(problems.count == 1 ? "" : "s") in \(options.plan)\n".utf8))
            throw ExitCode(1)
        }
    }
}
