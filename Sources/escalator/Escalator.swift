import ArgumentParser

@main
struct Escalator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "escalator",
        abstract: "Runs a courier company's emergency plan: pages departments in call order, informs customers.",
        discussion: """
            Examples:
              escalator check-config --plan config/plan.yaml
              escalator publish --key kc-hub-fire --type warehouse-fire --severity I \\
                --title "Fire alarm at Kwai Chung hub" --affected 40 --drill
              escalator watch --exchange pages --exchange status
              escalator incidents
              escalator simulate --type warehouse-fire --severity 1 \\
                --ack operations@4m --affected 20
            """,
        subcommands: [
            WorkerCommand.self, CheckConfig.self, Simulate.self,
            Publish.self, Reply.self, Watch.self, Incidents.self, Timeline.self, TopologyCommand.self,
        ]
    )
}
