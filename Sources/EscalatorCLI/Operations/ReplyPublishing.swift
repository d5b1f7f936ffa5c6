public import AMQP
import CallTree
import Foundation
public import WireContract

/// `escalator reply`: the `reply.v1` a gateway sends when a contact answers a page, published to
/// the replies queue with `correlation_id` = the page id.
///
/// A real gateway returns the token the page carried. Without `--token` the token is computed
/// here with the configured page-token secret, which only a machine holding that secret (ops,
/// the demo, tests) can do.
public enum ReplyPublishing {
    public struct Flags: Sendable, Hashable {
        public var page: String
        public var action: String = "ack"
        public var contact: String?
        public var note: String?
        public var token: String?
        public var replyID: String?

        public init(page: String) {
            self.page = page
        }
    }

    public struct PreparedReply: Sendable, Hashable {
        public var body: [UInt8]
        public var message: ReplyMessage
        /// True when the token was signed here rather than passed in.
        public var signedLocally: Bool

        /// To the default exchange with the queue's name as routing key: straight to the queue a
        /// page names in `reply_to`, and returned if that queue does not exist.
        public func outbound(_ names: EscalatorNames) -> OutboundMessage {
            OutboundMessage(
                exchange: "", routingKey: names.repliesQueue, body: body,
                properties: MessageProperties(
                    contentType: "application/json", persistent: true, correlationID: message.page.description,
                    messageID: message.replyID, appID: "escalator reply"))
        }

        public var receipt: String {
            "published reply \(message.replyID): \(message.action.rawValue) from \(message.contact) to page \(message.page)"
        }
    }

    public static func reply(
        from flags: Flags, signer: PageTokenSigner, now: Date = Date(), newID: () -> String = { UUID().uuidString.lowercased() }
    ) throws(CommandFailure) -> PreparedReply {
        guard let action = ReplyAction(rawValue: flags.action) else {
            throw .invalidInput("--action must be ack, escalate or resolve, not '\(flags.action)'")
        }
        guard let page = PageID(flags.page) else {
            throw .invalidInput(
                "--page '\(flags.page)' is not a page id: copy page_id from the page, "
                    + "such as page:inc-1a2b3c4d5e6f7a8b:operations:1:2:tam-mei-yee")
        }
        let contact = flags.contact ?? page.contact.rawValue
        let token = flags.token ?? signer.token(page: page.description, contact: contact)
        let body = ReplyBody(
            replyID: flags.replyID ?? newID(), pageID: page.description, contactID: contact, token: token, action: action,
            note: flags.note, sentAt: RFC3339.format(Timestamp(now)))
        let bytes: [UInt8]
        do {
            bytes = try WireJSON.encode(body)
        } catch {
            throw CommandFailure("cannot encode the reply: \(error)")
        }
        do {
            return PreparedReply(body: bytes, message: try ReplyMessage(bytes: bytes), signedLocally: flags.token == nil)
        } catch {
            throw .invalidInput("the reply breaks the reply.v1 contract, so it was not sent: \(error.message)")
        }
    }
}
