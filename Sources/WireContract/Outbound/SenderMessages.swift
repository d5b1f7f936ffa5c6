import CallTree

/// An `incident.v1` as upstream sends it: what `escalator publish` and the tests put on the wire.
public struct IncidentEventBody: Encodable, Sendable, Hashable {
    public struct AffectedParcel: Encodable, Sendable, Hashable {
        public var waybill: String
        public var customerID: String
        public var locale: String?

        enum CodingKeys: String, CodingKey {
            case waybill, locale
            case customerID = "customer_id"
        }

        public init(waybill: String, customerID: String, locale: String? = nil) {
            self.waybill = waybill
            self.customerID = customerID
            self.locale = locale
        }
    }

    public var schema = IncidentMessage.schema
    public var eventID: String
    public var action: String
    public var incidentKey: String
    public var type: String?
    public var severity: Int?
    public var title: String?
    public var details: String?
    public var site: String?
    public var region: String?
    public var occurredAt: String?
    public var eta: String?
    public var affected: [AffectedParcel]?
    public var drill: Bool?

    enum CodingKeys: String, CodingKey {
        case schema, action, type, severity, title, details, site, region, eta, affected, drill
        case eventID = "event_id", incidentKey = "incident_key", occurredAt = "occurred_at"
    }

    public init(
        eventID: String, action: IncidentMessage.Action, incidentKey: String, type: String? = nil,
        severity: Int? = nil, title: String? = nil, details: String? = nil, site: String? = nil,
        region: String? = nil, occurredAt: String? = nil, eta: String? = nil, affected: [AffectedParcel]? = nil,
        drill: Bool? = nil
    ) {
        self.eventID = eventID
        self.action = action.rawValue
        self.incidentKey = incidentKey
        self.type = type
        self.severity = severity
        self.title = title
        self.details = details
        self.site = site
        self.region = region
        self.occurredAt = occurredAt
        self.eta = eta
        self.affected = affected
        self.drill = drill
    }
}

/// A `reply.v1` as a gateway sends it.
public struct ReplyBody: Encodable, Sendable, Hashable {
    public var schema = ReplyMessage.schema
    public var replyID: String
    public var pageID: String
    public var contactID: String
    public var token: String
    public var action: String
    public var note: String?
    public var sentAt: String

    enum CodingKeys: String, CodingKey {
        case schema, token, action, note
        case replyID = "reply_id", pageID = "page_id", contactID = "contact_id", sentAt = "sent_at"
    }

    public init(
        replyID: String, pageID: String, contactID: String, token: String, action: ReplyAction, note: String? = nil,
        sentAt: String
    ) {
        self.replyID = replyID
        self.pageID = pageID
        self.contactID = contactID
        self.token = token
        self.action = action.rawValue
        self.note = note
        self.sentAt = sentAt
    }
}
