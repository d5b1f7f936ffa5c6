import ArgumentParser

@main
struct Escalator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "escalator",
        abstract: "Runs a courier company's emergency plan: pages departments in call order, informs customers.",
        discussion: """
            Examples:
              escalator check-config --plan config/plan.yaml
              escalator simulate --type warehouse-fire --severity 1 \\
                --ack operations@4m --affected 20
            """,
        subcommands: [WorkerCommand.self, CheckConfig.self, Simulate.self]
    )
}

/// `--plan`, shared by every command that reads the plan.
struct PlanOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The plan file.", valueName: "path"))
    var plan: String = "config/plan.yaml"
}
