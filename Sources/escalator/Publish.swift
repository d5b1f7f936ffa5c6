import AMQP
import ArgumentParser
import EscalatorCLI
import Foundation
import CallTree
import PlanFile
import Rendering
import Logging
import WireContract

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish an incident.v1 event, as an upstream system would.",
        discussion: """
            The event is checked against the wire contract and the plan's incident types before \
            it is sent: a bad event is refused here with the message a worker would dead-letter \
            it with. It goes to the incidents exchange with routing key incident.<type>, and the \
            command waits for the broker's confirm: exit 0 means the broker has it; exit 1 when \
            it was returned (no queue bound), refused or the broker could not be reached; exit 2 \
            for a bad event or bad settings. Prints the event id and the incident key.

            Examples:
              escalator publish --key kc-hub-fire --type warehouse-fire --severity I \\
                --title "Fire alarm at Kwai Chung hub" --site "Kwai Chung hub" \\
                --affected 40 --eta 3h --drill
              escalator publish --action update --key kc-hub-fire --severity II --eta 90m
              escalator publish --action resolve --key kc-hub-fire --details "Fire out"
              escalator publish --file event.json
            """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case trigger, update, resolve
    }

    @OptionGroup var settings: SettingsOption

    @Option(help: ArgumentHelp("A JSON incident.v1 event to send as it is ('-' reads standard input); no other event flags.", valueName: "path"))
    var file: String?

    @Option(name: .customLong("event-id"), help: ArgumentHelp("Unique per event; a fresh UUID by default.", valueName: "id"))
    var eventID: String?

    @Option(help: "trigger, update or resolve.")
    var action: Action = .trigger

    @Option(help: ArgumentHelp("The incident key: every event of one incident carries it.", valueName: "key"))
    var key: String?

    @Option(help: ArgumentHelp("An incident type of the plan, such as warehouse-fire (a trigger needs it).", valueName: "type"))
    var type: String?

    @Option(help: ArgumentHelp("1 (I, most severe) to 4 (IV) (a trigger needs it).", valueName: "n"))
    var severity: String?

    @Option(help: ArgumentHelp("Up to 200 characters (a trigger needs it).", valueName: "text"))
    var title: String?

    @Option(help: ArgumentHelp("Up to 4000 characters; for a resolve, the resolution note.", valueName: "text"))
    var details: String?

    @Option(help: ArgumentHelp("Depot, warehouse or route.", valueName: "text"))
    var site: String?

    @Option(help: ArgumentHelp("The region of the site.", valueName: "text"))
    var region: String?

    @Option(name: .customLong("occurred-at"), help: ArgumentHelp("RFC 3339; now by default.", valueName: "time"))
    var occurredAt: String?

    @Option(help: ArgumentHelp("Expected recovery: RFC 3339, or a duration from now such as 3h.", valueName: "time"))
    var eta: String?

    @Option(help: ArgumentHelp("Generate N affected parcels WB000000001… for customers C000001….", valueName: "n"))
    var affected: Int?

    @Option(
        name: .customLong("affected-file"),
        help: ArgumentHelp("Affected parcels: a JSON list of {waybill, customer_id, locale?} or lines waybill,customer_id[,locale].", valueName: "path"))
    var affectedFile: String?

    @Option(help: ArgumentHelp("The locale of the generated or listed parcels' customers.", valueName: "locale"))
    var locale: String?

    @Flag(help: "A drill: the real call tree and contacts, every text marked as a drill, customer notices under drill.notice.* where no customer gateway listens.")
    var drill = false

    func validate() throws {
        let eventFlags: [Any?] = [
            eventID, key, type, severity, title, details, site, region, occurredAt, eta, affected, affectedFile, locale,
        ]
        if file != nil && (eventFlags.contains { $0 != nil } || drill || action != .trigger) {
            throw ValidationError("--file sends the event in the file as it is; leave out the other event flags")
        }
    }

    func run() async throws {
        try await reportingFailures { () throws(CommandFailure) in
            let settings = try settings.load()
            let knownTypes = Set(try settings.loadPlan().document.plan.incidentTypes.map(\.id))
            let event: IncidentPublishing.PreparedEvent
            if let file {
                event = try IncidentPublishing.event(file: file, knownTypes: knownTypes)
            } else {
                var flags = IncidentPublishing.Flags()
                flags.eventID = eventID
                flags.action = action.rawValue
                flags.key = key
                flags.type = type
                flags.severity = severity
                flags.title = title
                flags.details = details
                flags.site = site
                flags.region = region
                flags.occurredAt = occurredAt
                flags.eta = eta
                flags.affected = affected
                flags.affectedFile = affectedFile
                flags.locale = locale
                flags.drill = drill
                event = try IncidentPublishing.event(from: flags, knownTypes: knownTypes)
            }
            let message = event.outbound(settings.names)
            try await ConfirmedPublish.send(
                message, describing: "event \(event.message.eventID)", configuration: try settings.oneShotAMQP("publish"),
                logger: .quiet("escalator.publish"))
            writeLine(event.receipt)
            writeLine("  exchange '\(message.exchange)', routing key '\(message.routingKey)': confirmed by the broker")
        }
    }
}
