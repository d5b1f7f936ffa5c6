import ArgumentParser
import EscalatorCLI
import Foundation
import Logging

struct Incidents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the open incidents from the store (--all: resolved ones too).",
        discussion: """
            One line per incident, oldest first: id, key, type, severity, state (open, \
            acknowledged, exhausted, resolved; drills marked), when it opened, how its \
            departments stand, title. Reads the store the workers use (store, ESCALATOR_STORE).

            Examples:
              escalator incidents
              escalator incidents --all --format json
              ESCALATOR_STORE=/var/lib/escalator/escalator.sqlite escalator incidents
            """
    )

    @OptionGroup var settings: SettingsOption

    @Flag(help: "Include resolved incidents (the most recent --limit).")
    var all = false

    @Option(help: ArgumentHelp("With --all, at most this many of the most recent incidents.", valueName: "n"))
    var limit: Int = 200

    @Option(help: "text or json.")
    var format: OutputFormat = .text

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be 1 or more") }
    }

    func run() async throws {
        try await reportingFailures { () throws(CommandFailure) in
            let settings = try settings.load()
            let (all, limit) = (all, limit)
            let incidents = try await settings.withStoreForReading(logger: .quiet("escalator.incidents")) {
                store throws(CommandFailure) in
                try await IncidentReports.incidents(in: store, includeResolved: all, limit: limit)
            }
            FileHandle.standardOutput.write(
                Data((format == .json ? IncidentReports.incidentsJSON(incidents) : IncidentReports.incidentsText(incidents, includeResolved: all)).utf8))
        }
    }
}

struct Timeline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one incident's timeline and the time each department took to acknowledge.",
        discussion: """
            Every event, page, timeout, escalation, acknowledgement, status update and batch of \
            notices in time order, with its offset from the opening, then the time to acknowledge \
            per department and per contact (from the first page of the department). The incident \
            is named by id or by key (the open incident with the key, else the latest resolved one).

            Examples:
              escalator timeline kc-hub-fire
              escalator timeline inc-1a2b3c4d5e6f7a8b --format json
            """
    )

    @OptionGroup var settings: SettingsOption

    @Argument(help: ArgumentHelp("The incident's id or key.", valueName: "incident"))
    var incident: String

    @Option(help: "text or json.")
    var format: OutputFormat = .text

    func run() async throws {
        try await reportingFailures { () throws(CommandFailure) in
            let settings = try settings.load()
            let incident = incident
            let report = try await settings.withStoreForReading(logger: .quiet("escalator.timeline")) {
                store throws(CommandFailure) in
                try await IncidentReports.timeline(of: incident, in: store)
            }
            FileHandle.standardOutput.write(
                Data((format == .json ? IncidentReports.timelineJSON(report) : IncidentReports.timelineText(report)).utf8))
        }
    }
}

struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "Declare Escalator's exchanges, queues and bindings on the broker and print them.",
        discussion: """
            Declares what every worker declares when it starts (names from the settings, \
            names.* and ESCALATOR_NAMES_*), so a broker can be prepared before the first worker \
            and upstream systems can publish at once. Declaring is idempotent; an existing queue \
            or exchange with other settings is reported with the argument that differs.

            Example:
              ESCALATOR_AMQP_URL=amqp://escalator:secret@mq:5672/%2f escalator topology
            """
    )

    @OptionGroup var settings: SettingsOption

    func run() async throws {
        try await reportingFailures { () throws(CommandFailure) in
            let settings = try settings.load()
            let text = try await TopologyDeclaration.run(settings: settings, logger: .quiet("escalator.topology"))
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}
