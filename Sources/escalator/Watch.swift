import AMQP
import ArgumentParser
import EscalatorCLI
import Foundation
import Logging
import PlanFile
import Worker

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print pages, status updates and customer notices as the workers publish them.",
        discussion: """
            Reads from a queue of its own bound to the chosen exchanges, so it takes nothing from \
            the gateways; the queue disappears a minute after the watch stops. One line per \
            message: pages with department, round and step, contact, channel, ack deadline and \
            page id; status updates with their state and each department's; notices with kind, \
            parcel and customer. Runs until Ctrl-C, --count messages or --for.

            Examples:
              escalator watch
              escalator watch --exchange pages --key 'page.*.operations' --text
              escalator watch --exchange status --format json --count 1
              escalator watch --exchange dead
            """
    )

    @OptionGroup var settings: SettingsOption

    @Option(
        name: .customLong("exchange"),
        help: ArgumentHelp("pages, status, notices or dead (the dead letters); repeatable. Default: pages, status, notices.", valueName: "stream"))
    var exchanges: [MessageWatch.Stream] = []

    @Option(help: ArgumentHelp("Binding pattern on each exchange, such as 'page.sms.#' or 'status.*.resolved'.", valueName: "pattern"))
    var key: String = "#"

    @Option(help: "text (one line per message) or json (each body as published, one per line).")
    var format: MessageWatch.Format = .text

    @Flag(name: .customLong("text"), help: "Show the rendered text of pages, status updates and notices below their line.")
    var showText = false

    @Option(help: ArgumentHelp("Stop after this many messages.", valueName: "n"))
    var count: Int?

    @Option(name: .customLong("for"), help: ArgumentHelp("Stop after this long, such as 90s or 5m.", valueName: "duration"))
    var duration: String?

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be 1 or more") }
        if let duration, case .failure = DurationText.parse(duration) {
            throw ValidationError("--for must be a duration such as 90s or 5m, not '\(duration)'")
        }
    }

    func run() async throws {
        try await reportingFailures { () throws(CommandFailure) in
            let settings = try settings.load()
            var options = MessageWatch.Options()
            if !exchanges.isEmpty {
                var seen = Set<MessageWatch.Stream>()
                options.streams = exchanges.filter { seen.insert($0).inserted }
            }
            options.bindingKey = key
            options.format = format
            options.showText = showText
            options.count = count
            if let duration, case .success(let parsed) = DurationText.parse(duration) { options.duration = parsed }
            let streams = options.streams.map(\.rawValue).joined(separator: ", ")
            let pattern = options.bindingKey
            let endpoint = (try? settings.longRunningAMQP("watch").endpointDescription) ?? settings.configuration.amqpURL
            try await MessageWatch.run(
                settings: settings, options: options, logger: .quiet("escalator.watch", level: .warning),
                ready: { FileHandle.standardError.write(Data("watching \(streams) ('\(pattern)') on \(endpoint)\n".utf8)) },
                output: writeLine)
        }
    }
}

extension MessageWatch.Stream: ExpressibleByArgument {}
extension MessageWatch.Format: ExpressibleByArgument {}
