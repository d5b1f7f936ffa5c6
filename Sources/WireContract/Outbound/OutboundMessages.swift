import CallTree
public import JSONWriting

/// `page.v1`: a page to one contact, for the SMS, phone, e-mail or IM gateway of its channel.
public struct PageMessage: WireMessage, Sendable, Hashable {
    public struct ContactInfo: Encodable, Sendable, Hashable {
        public var id: String
        public var name: String
        public var channel: String
        public var address: String
    }

    public var schema = "page.v1"
    public var pageID: String
    public var incidentID: String
    public var incidentKey: String
    public var department: String
    public var round: Int
    public var step: Int
    public var contact: ContactInfo
    public var type: String
    public var severity: Int
    public var title: String
    public var text: String
    public var token: String
    public var ackDeadline: String
    public var drill: Bool

    enum CodingKeys: String, CodingKey {
        case schema, department, round, step, contact, type, severity, title, text, token, drill
        case pageID = "page_id", incidentID = "incident_id", incidentKey = "incident_key", ackDeadline = "ack_deadline"
    }

    public init(page: Page, incident: IncidentState, contactName: String, text: String, token: String) {
        pageID = page.id.description
        incidentID = incident.id.rawValue
        incidentKey = incident.key
        department = page.department.rawValue
        round = page.position.round
        step = page.position.step
        contact = ContactInfo(
            id: page.contact.rawValue, name: contactName, channel: page.channel.channel.rawValue,
            address: page.channel.address)
        type = incident.type.rawValue
        severity = incident.severity.rawValue
        title = incident.title
        self.text = text
        self.token = token
        ackDeadline = RFC3339.format(page.ackDeadline)
        drill = page.drill
    }
}

/// `notice.v1`: one customer notice for one parcel.
public struct NoticeMessage: WireMessage, Sendable, Hashable {
    public var schema = "notice.v1"
    public var noticeID: String
    public var incidentID: String
    public var kind: String
    public var waybill: String
    public var customerID: String
    public var locale: String
    public var text: String
    public var drill: Bool

    enum CodingKeys: String, CodingKey {
        case schema, kind, waybill, locale, text, drill
        case noticeID = "notice_id", incidentID = "incident_id", customerID = "customer_id"
    }

    public init(batch: NoticeBatch, incident: IncidentID, parcel: Parcel, locale: String, text: String) {
        noticeID = batch.noticeID(incident: incident, waybill: parcel.waybill).description
        incidentID = incident.rawValue
        kind = batch.kind.rawValue
        waybill = parcel.waybill
        customerID = parcel.customerID
        self.locale = locale
        self.text = text
        drill = batch.drill
    }
}

/// `status.v1`: where an incident stands, for the command centre.
public struct StatusMessage: WireMessage, Sendable, Hashable {
    public struct Department: Encodable, Sendable, Hashable {
        public var department: String
        public var state: String
        public var round: Int?
        public var step: Int?
        public var contactID: String?
        public var acknowledgedBy: String?
        public var acknowledgedAt: String?

        public init(
            department: String, state: String, round: Int? = nil, step: Int? = nil, contactID: String? = nil,
            acknowledgedBy: String? = nil, acknowledgedAt: String? = nil
        ) {
            self.department = department
            self.state = state
            self.round = round
            self.step = step
            self.contactID = contactID
            self.acknowledgedBy = acknowledgedBy
            self.acknowledgedAt = acknowledgedAt
        }

        enum CodingKeys: String, CodingKey {
            case department, state, round, step
            case contactID = "contact_id", acknowledgedBy = "acknowledged_by", acknowledgedAt = "acknowledged_at"
        }

        // Absent values are written as null: consumers of v1 can rely on every key being there.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(department, forKey: .department)
            try container.encode(state, forKey: .state)
            try container.encode(round, forKey: .round)
            try container.encode(step, forKey: .step)
            try container.encode(contactID, forKey: .contactID)
            try container.encode(acknowledgedBy, forKey: .acknowledgedBy)
            try container.encode(acknowledgedAt, forKey: .acknowledgedAt)
        }
    }

    public var schema = "status.v1"
    public var updateID: String
    public var incidentID: String
    public var incidentKey: String
    public var seq: Int
    public var state: String
    public var reason: String
    public var at: String
    public var type: String
    public var severity: Int
    public var title: String
    public var departments: [Department]
    /// Additive to v1: the rendered summary for dashboards and chat rooms that show text.
    public var text: String?
    public var drill: Bool

    enum CodingKeys: String, CodingKey {
        case schema, seq, state, reason, at, type, severity, title, departments, text, drill
        case updateID = "update_id", incidentID = "incident_id", incidentKey = "incident_key"
    }

    public init(update: StatusUpdate, incident: IncidentState, plan: Plan, text: String?) {
        updateID = update.id.description
        incidentID = incident.id.rawValue
        incidentKey = incident.key
        seq = update.sequence
        state = update.state.rawValue
        reason = update.reason.description
        at = RFC3339.format(update.at)
        type = incident.type.rawValue
        severity = incident.severity.rawValue
        title = incident.title
        departments = update.departments.map { status in
            Department(
                department: status.department.rawValue, state: status.state.rawValue,
                round: status.position?.round, step: status.position?.step,
                contactID: (status.acknowledgedBy ?? status.contacts(in: plan).first)?.rawValue,
                acknowledgedBy: status.acknowledgedBy?.rawValue,
                acknowledgedAt: status.acknowledgedAt.map(RFC3339.format))
        }
        self.text = text
        drill = update.drill
    }
}

// MARK: Written directly

/// A message Escalator publishes. It writes its own JSON, byte for byte what its `Encodable`
/// conformance gives through `WireJSON`'s encoder (sorted keys): the tests hold the two equal.
public protocol WireMessage: Encodable {
    func write(to json: inout JSONText)
}

extension PageMessage {
    public func write(to json: inout JSONText) {
        json.object { json in
            json.field("ack_deadline", ackDeadline)
            json.field("contact") { json in
                json.object { json in
                    json.field("address", contact.address)
                    json.field("channel", contact.channel)
                    json.field("id", contact.id)
                    json.field("name", contact.name)
                }
            }
            json.field("department", department)
            json.field("drill", drill)
            json.field("incident_id", incidentID)
            json.field("incident_key", incidentKey)
            json.field("page_id", pageID)
            json.field("round", round)
            json.field("schema", schema)
            json.field("severity", severity)
            json.field("step", step)
            json.field("text", text)
            json.field("title", title)
            json.field("token", token)
            json.field("type", type)
        }
    }
}

extension NoticeMessage {
    public func write(to json: inout JSONText) {
        json.object { json in
            json.field("customer_id", customerID)
            json.field("drill", drill)
            json.field("incident_id", incidentID)
            json.field("kind", kind)
            json.field("locale", locale)
            json.field("notice_id", noticeID)
            json.field("schema", schema)
            json.field("text", text)
            json.field("waybill", waybill)
        }
    }
}

extension StatusMessage {
    public func write(to json: inout JSONText) {
        json.object { json in
            json.field("at", at)
            json.field("departments") { json in
                json.array { json in
                    for department in departments {
                        json.element { json in
                            json.object { json in
                                json.field("acknowledged_at", department.acknowledgedAt)
                                json.field("acknowledged_by", department.acknowledgedBy)
                                json.field("contact_id", department.contactID)
                                json.field("department", department.department)
                                json.field("round", department.round)
                                json.field("state", department.state)
                                json.field("step", department.step)
                            }
                        }
                    }
                }
            }
            json.field("drill", drill)
            json.field("incident_id", incidentID)
            json.field("incident_key", incidentKey)
            json.field("reason", reason)
            json.field("schema", schema)
            json.field("seq", seq)
            json.field("severity", severity)
            json.field("state", state)
            // Absent, as its `Encodable` conformance leaves it: consumers of v1 never had it.
            if let text { json.field("text", text) }
            json.field("title", title)
            json.field("type", type)
            json.field("update_id", updateID)
        }
    }
}
