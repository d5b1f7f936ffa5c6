import CallTree

/// A validated `reply.v1` from a gateway: a contact's answer to a page.
public struct ReplyMessage: Sendable, Hashable {
    public static let schema = "reply.v1"

    public var replyID: String
    public var page: PageID
    public var contact: ContactID
    public var token: String
    public var action: ReplyAction
    public var note: String?
    public var sentAt: Timestamp

    public init(bytes: some Collection<UInt8>) throws(ContractViolation) {
        let json = try JSONObjectReader(schema: Self.schema, bytes: bytes)
        replyID = try json.string("reply_id", length: 1...128)
        let pageText = try json.string("page_id", length: 1...512)
        guard let page = PageID(pageText) else {
            throw ContractViolation(
                .invalidField, "field 'page_id' is not a page id sent by Escalator: \"\(pageText)\"; reply with the page's page_id")
        }
        self.page = page
        contact = ContactID(try json.string("contact_id", length: 1...128))
        token = try json.string("token", length: 1...256)
        let actionText = try json.string("action", length: 1...16)
        guard let action = ReplyAction(rawValue: actionText) else {
            throw ContractViolation(.invalidField, "field 'action' must be ack, escalate or resolve, found \"\(actionText)\"")
        }
        self.action = action
        note = try json.optionalString("note", maximumLength: 1000)
        sentAt = try json.time("sent_at")
    }

    public var reply: Reply {
        Reply(replyID: replyID, page: page, contact: contact, action: action, note: note)
    }
}
