import CallTree

/// A validated `incident.v1` event from upstream.
public struct IncidentMessage: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable, CaseIterable {
        case trigger, update, resolve
    }

    public static let schema = "incident.v1"

    public var eventID: String
    public var action: Action
    public var incidentKey: String
    public var type: IncidentTypeID?
    public var severity: Severity?
    public var title: String?
    public var details: String?
    public var site: String?
    public var region: String?
    public var occurredAt: Timestamp?
    public var eta: Timestamp?
    public var affected: [Parcel]
    public var drill: Bool

    /// Decodes and validates a message body against the contract and the plan's incident types.
    public init(bytes: some Collection<UInt8>, knownTypes: Set<IncidentTypeID>) throws(ContractViolation) {
        let json = try JSONObjectReader(schema: Self.schema, bytes: bytes)
        eventID = try json.string("event_id", length: 1...128)
        let actionText = try json.string("action", length: 1...16)
        guard let action = Action(rawValue: actionText) else {
            throw ContractViolation(.invalidField, "field 'action' must be trigger, update or resolve, found \"\(actionText)\"")
        }
        self.action = action
        incidentKey = try json.string("incident_key", length: 1...255)

        let isTrigger = action == .trigger
        if isTrigger || json.has("type") {
            let type = IncidentTypeID(try json.string("type", length: 1...128))
            guard knownTypes.contains(type) else {
                throw ContractViolation(
                    .unknownType,
                    "field 'type' names \"\(type)\", which the plan does not define; known types: \(knownTypes.sorted().map(\.rawValue).joined(separator: ", "))")
            }
            self.type = type
        }
        if isTrigger || json.has("severity") {
            severity = Severity(rawValue: try json.integer("severity", in: 1...4))
        }
        title = isTrigger || json.has("title") ? try json.string("title", length: 1...200) : nil
        details = try json.optionalString("details", maximumLength: 4000)
        site = try json.optionalString("site", maximumLength: 200)
        region = try json.optionalString("region", maximumLength: 200)
        occurredAt = isTrigger ? try json.time("occurred_at") : try json.optionalTime("occurred_at")
        eta = try json.optionalTime("eta")
        affected = []
        for parcel in try json.objects("affected", maximumCount: 100_000) {
            affected.append(
                Parcel(
                    waybill: try parcel.string("waybill", length: 1...64),
                    customerID: try parcel.string("customer_id", length: 1...128),
                    locale: try parcel.optionalString("locale", maximumLength: 35)))
        }
        drill = try json.boolean("drill", default: false)
    }

    /// The call-tree event this message means; `incident` names the incident a trigger opens. A
    /// trigger for a key with an open incident is handled as an update by the state machine.
    public func event(opening incident: IncidentID) -> Event {
        switch action {
        case .trigger:
            .trigger(
                Trigger(
                    incident: incident, key: incidentKey, type: type!, severity: severity!, title: title!,
                    details: details, site: site, region: region, occurredAt: occurredAt, eta: eta,
                    affected: affected, drill: drill))
        case .update:
            .update(Update(severity: severity, title: title, details: details, eta: eta, affected: affected))
        case .resolve:
            .resolve(note: details)
        }
    }
}
