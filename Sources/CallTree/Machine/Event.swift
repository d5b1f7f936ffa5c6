/// What can happen to an incident. Each is fed to `IncidentStateMachine.handle(_:at:)`.
public enum Event: Sendable, Hashable {
    /// Upstream reports an incident. A trigger for an incident that is already open is an update.
    case trigger(Trigger)
    /// Upstream changes an open incident: severity, text, recovery estimate, more parcels.
    case update(Update)
    /// Upstream says the incident is over.
    case resolve(note: String?)
    /// A contact answered a page.
    case reply(Reply)
    /// A due time the machine scheduled has come.
    case dueTimeReached(DueID)
}

public struct Trigger: Sendable, Hashable {
    public var incident: IncidentID
    public var key: String
    public var type: IncidentTypeID
    public var severity: Severity
    public var title: String
    public var details: String?
    public var site: String?
    public var region: String?
    public var occurredAt: Timestamp?
    public var eta: Timestamp?
    public var affected: [Parcel]
    public var drill: Bool

    public init(
        incident: IncidentID, key: String, type: IncidentTypeID, severity: Severity, title: String,
        details: String? = nil, site: String? = nil, region: String? = nil, occurredAt: Timestamp? = nil,
        eta: Timestamp? = nil, affected: [Parcel] = [], drill: Bool = false
    ) {
        self.incident = incident
        self.key = key
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

/// Fields left nil are unchanged. `affected` adds parcels; it never removes any.
public struct Update: Sendable, Hashable {
    public var severity: Severity?
    public var title: String?
    public var details: String?
    public var eta: Timestamp?
    public var affected: [Parcel]

    public init(
        severity: Severity? = nil, title: String? = nil, details: String? = nil, eta: Timestamp? = nil,
        affected: [Parcel] = []
    ) {
        self.severity = severity
        self.title = title
        self.details = details
        self.eta = eta
        self.affected = affected
    }
}

/// A parcel affected by an incident, whose customer gets notices.
public struct Parcel: Sendable, Hashable, Codable {
    public var waybill: String
    public var customerID: String
    /// The customer's locale; the plan's default when nil.
    public var locale: String?

    public init(waybill: String, customerID: String, locale: String? = nil) {
        self.waybill = waybill
        self.customerID = customerID
        self.locale = locale
    }
}

public enum ReplyAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// "I have it": stops the escalation of the page's department.
    case ack
    /// "Not me, pass it on": moves the department to its next step now.
    case escalate
    /// "It is over": resolves the incident, for contacts the plan allows to.
    case resolve
}

/// A reply whose token the caller has already checked: the machine judges only whether the
/// contact may say this about this page now.
public struct Reply: Sendable, Hashable {
    public var replyID: String
    public var page: PageID
    public var contact: ContactID
    public var action: ReplyAction
    public var note: String?

    public init(replyID: String, page: PageID, contact: ContactID, action: ReplyAction, note: String? = nil) {
        self.replyID = replyID
        self.page = page
        self.contact = contact
        self.action = action
        self.note = note
    }
}
