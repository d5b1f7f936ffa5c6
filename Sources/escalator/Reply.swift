import AMQP
import ArgumentParser
import EscalatorCLI
import Foundation
import Logging
import WireContract

struct Reply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a reply.v1 to a page, as an SMS, phone or IM gateway would.",
        discussion: """
            The reply goes to the replies queue (through the default exchange, routing key = the \
            queue's name) with correlation_id = the page id, and the command waits for the \
            broker's confirm. The contact is the page's own unless --contact says otherwise.

            A real gateway passes the token the page carried (--token). Without --token the token \
            is signed here with the configured page-token secret (secret_file, \
            ESCALATOR_SECRET_FILE), so ops and the demo can answer a page by hand; a worker with \
            another secret refuses the reply and records why on the timeline.

            Examples:
              escalator reply --page page:inc-1a2b3c4d5e6f7a8b:operations:1:1:lee-dispatch
              escalator reply --action escalate --note "On leave, passing it on" \\
                --page page:inc-1a2b3c4d5e6f7a8b:operations:1:1:lee-dispatch
              escalator reply --page "$PAGE_ID" --token "$PAGE_TOKEN" --action resolve
            """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case ack, escalate, resolve
    }

    @OptionGroup var settings: SettingsOption

    @Option(help: ArgumentHelp("The page_id of the page answered.", valueName: "page-id"))
    var page: String

    @Option(help: "ack stops the department's escalation, escalate pages the next contact now, resolve (if the plan allows the contact).")
    var action: Action = .ack

    @Option(help: ArgumentHelp("Who replies; the page's contact by default.", valueName: "contact-id"))
    var contact: String?

    @Option(help: ArgumentHelp("A note kept on the timeline.", valueName: "text"))
    var note: String?

    @Option(help: ArgumentHelp("The page's token; signed with the configured secret by default.", valueName: "token"))
    var token: String?

    @Option(name: .customLong("reply-id"), help: ArgumentHelp("Unique per reply; a fresh UUID by default.", valueName: "id"))
    var replyID: String?

    func run() async throws {
        try await reportingFailures { () throws(CommandFailure) in
            let settings = try settings.load()
            var flags = ReplyPublishing.Flags(page: page)
            flags.action = action.rawValue
            flags.contact = contact
            flags.note = note
            flags.token = token
            flags.replyID = replyID
            let reply = try ReplyPublishing.reply(from: flags, signer: settings.pageTokenSigner)
            let message = reply.outbound(settings.names)
            try await ConfirmedPublish.send(
                message, describing: "reply \(reply.message.replyID)", configuration: try settings.oneShotAMQP("reply"),
                logger: .quiet("escalator.reply"))
            writeLine(reply.receipt)
            writeLine(
                "  queue '\(message.routingKey)', correlation_id \(reply.message.page): confirmed by the broker"
                    + (reply.signedLocally ? " (token signed with the configured secret)" : ""))
        }
    }
}
