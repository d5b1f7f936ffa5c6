import CallTree
import Foundation
import IncidentStore

/// Turns call-tree events into store requests the way the worker does, with stand-in
/// rendering: each page, status update and notice becomes an outbox message whose body is a
/// small JSON object under its deterministic id.
public struct FixtureWorker: Sendable {
    public var plan: Plan
    public var repliesQueue: String

    public init(plan: Plan = FixturePlan.plan, repliesQueue: String = "escalator.replies") {
        self.plan = plan
        self.repliesQueue = repliesQueue
    }

    /// An incident.v1 trigger for `key`; `incident` is the id a new incident gets.
    public func trigger(
        messageID: String, key: String, incident: IncidentID, severity: Severity = .major,
        affected: [Parcel] = [], drill: Bool = false, at now: Timestamp
    ) -> ApplyRequest {
        let trigger = Trigger(
            incident: incident, key: key, type: FixturePlan.type, severity: severity, title: "Fire at \(key)",
            affected: affected, drill: drill)
        return request(messageID: messageID, lookup: .key(key), event: .trigger(trigger), at: now)
    }

    public func resolve(messageID: String, key: String, at now: Timestamp) -> ApplyRequest {
        request(messageID: messageID, lookup: .key(key), event: .resolve(note: "out"), at: now, includeParcels: true)
    }

    public func reply(
        messageID: String, page: PageID, contact: ContactID, action: ReplyAction = .ack, at now: Timestamp
    ) -> ApplyRequest {
        request(
            messageID: messageID, lookup: .id(page.incident),
            event: .reply(Reply(replyID: messageID, page: page, contact: contact, action: action)), at: now,
            includeParcels: action == .resolve)
    }

    public func due(_ claim: DueClaim, at now: Timestamp) -> ApplyRequest {
        request(
            messageID: claim.messageID, lookup: .id(claim.incident), event: .dueTimeReached(claim.id), at: now,
            includeParcels: true, completing: claim)
    }

    public func request(
        messageID: String, lookup: IncidentLookup, event: Event, at now: Timestamp, includeParcels: Bool = false,
        completing: DueClaim? = nil
    ) -> ApplyRequest {
        let worker = self
        return ApplyRequest(
            messageID: messageID, lookup: lookup, at: now, includeParcels: includeParcels, completing: completing
        ) { input in
            worker.changes(for: event, input: input, at: now)
        }
    }

    /// What the worker writes for one event.
    public func changes(for event: Event, input: TransitionInput, at now: Timestamp) -> IncidentChanges {
        var before = input.incident?.state
        // A trigger for a resolved key opens a new incident.
        if case .trigger = event, before?.isResolved == true { before = nil }
        var machine = IncidentStateMachine(plan: plan, state: before)
        let actions = machine.handle(event, at: now)
        let after = machine.state
        var changes = IncidentChanges(state: after == before ? nil : after, actions: actions, at: now)
        guard let incident = after ?? input.incident?.state else { return changes }

        if case .trigger(let trigger) = event { changes.parcels += trigger.affected }
        if case .update(let update) = event { changes.parcels += update.affected }
        for action in actions {
            switch action {
            case .page(let page):
                changes.outbox.append(
                    message(
                        id: page.id.description, exchange: "pages",
                        routingKey: "page.\(page.channel.channel.rawValue).\(page.department)",
                        properties: MessageProperties(correlationID: page.id.description, replyTo: repliesQueue),
                        fields: ["schema": "page.v1", "incident_id": incident.id.rawValue, "contact": "\(page.contact)"]))
            case .publishStatus(let update):
                changes.outbox.append(
                    message(
                        id: update.id.description, exchange: "status",
                        routingKey: "status.\(incident.type).\(update.state.rawValue)", properties: MessageProperties(),
                        fields: ["schema": "status.v1", "seq": "\(update.sequence)", "state": update.state.rawValue]))
            case .sendNotices(let batch):
                let parcels: [Parcel]
                switch batch.audience {
                case .parcels(let list): parcels = list
                case .allAffected:
                    parcels = input.parcels.filter { !$0.noticesSent.contains(batch.kind) }.map(\.parcel)
                        + changes.parcels
                }
                for parcel in parcels {
                    changes.noticesSent.append(NoticeMark(waybill: parcel.waybill, kind: batch.kind))
                    if batch.drill { continue }  // drill notices never leave
                    let id = batch.noticeID(incident: incident.id, waybill: parcel.waybill)
                    changes.outbox.append(
                        message(
                            id: id.description, exchange: "notices", routingKey: "notice.\(batch.kind.rawValue)",
                            properties: MessageProperties(),
                            fields: ["schema": "notice.v1", "kind": batch.kind.rawValue, "waybill": parcel.waybill]))
                }
            case .scheduleDue, .cancelDue, .record:
                break
            }
        }
        return changes
    }

    private func message(
        id: String, exchange: String, routingKey: String, properties: MessageProperties, fields: [String: String]
    ) -> OutboxMessage {
        var fields = fields
        fields["id"] = id
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let body = (try? encoder.encode(fields)) ?? Data()
        return OutboxMessage(messageID: id, exchange: exchange, routingKey: routingKey, properties: properties, body: body)
    }
}
