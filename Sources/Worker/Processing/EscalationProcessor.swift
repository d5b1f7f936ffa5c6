import AMQP
import CallTree
import Crypto
import Foundation
import IncidentStore
import PlanFile
import Rendering
import WireContract

/// Turns what arrives — an incident event, a reply, a due time — into one store request whose
/// transition runs the call tree and writes every page, notice and status update it causes as
/// rendered, encoded outbox messages under their deterministic ids.
///
/// Everything here is a pure function of the message, the stored incident and the time, so a
/// transition that runs again after a conflict writes the same bytes.
public struct EscalationProcessor: Sendable {
    public let renderer: Renderer
    public let signer: PageTokenSigner
    public let names: EscalatorNames
    public let knownTypes: Set<IncidentTypeID>

    public var plan: Plan { renderer.document.plan }

    public init(renderer: Renderer, signer: PageTokenSigner, names: EscalatorNames = EscalatorNames()) {
        self.renderer = renderer
        self.signer = signer
        self.names = names
        knownTypes = Set(renderer.document.plan.incidentTypes.map(\.id))
    }

    // MARK: Requests

    public func request(for message: IncidentMessage, at now: Timestamp) -> ApplyRequest {
        let event = message.event(opening: Self.incidentID(forTrigger: message.eventID))
        let processor = self
        return ApplyRequest(
            messageID: "incident:\(message.eventID)", lookup: .key(message.incidentKey), at: now,
            includeParcels: message.action == .resolve
        ) { input in
            processor.changes(for: event, input: input, at: now)
        }
    }

    /// A reply whose contact or token does not match its page is refused here, before the call
    /// tree sees it, and recorded on the incident's timeline.
    public func request(for message: ReplyMessage, at now: Timestamp) -> ApplyRequest {
        let processor = self
        let refusal = refusal(of: message)
        return ApplyRequest(
            messageID: "reply:\(message.replyID)", lookup: .id(message.page.incident), at: now,
            includeParcels: message.action == .resolve && refusal == nil
        ) { input in
            if let refusal {
                let entry = TimelineEntry(
                    at: now,
                    event: .replyRefused(
                        replyID: message.replyID, page: message.page, contact: message.contact, action: message.action,
                        reason: .rejected(refusal)))
                return IncidentChanges(state: nil, actions: [.record(entry)], at: now)
            }
            return processor.changes(for: .reply(message.reply), input: input, at: now)
        }
    }

    public func request(for claim: DueClaim, at now: Timestamp) -> ApplyRequest {
        let processor = self
        return ApplyRequest(
            messageID: claim.messageID, lookup: .id(claim.incident), at: now, includeParcels: true, completing: claim
        ) { input in
            processor.changes(for: .dueTimeReached(claim.id), input: input, at: now)
        }
    }

    /// Why a reply cannot be trusted, or nil when its contact and token match its page.
    public func refusal(of reply: ReplyMessage) -> String? {
        guard reply.contact == reply.page.contact else {
            return "reply from contact \(reply.contact) to a page sent to \(reply.page.contact)"
        }
        guard signer.isValid(reply.token, page: reply.page.description, contact: reply.contact.rawValue) else {
            return "the token does not match the page and contact"
        }
        return nil
    }

    /// The id of the incident a trigger opens: derived from the event, so every worker that
    /// processes the same trigger (a redelivery, a retry after a conflict) names it the same.
    public static func incidentID(forTrigger eventID: String) -> IncidentID {
        let digest = SHA256.hash(data: Data(eventID.utf8))
        let hex = Array("0123456789abcdef".utf8)
        var id = Array("inc-".utf8)
        for byte in digest.prefix(8) {
            id.append(hex[Int(byte >> 4)])
            id.append(hex[Int(byte & 0xF)])
        }
        return IncidentID(String(decoding: id, as: UTF8.self))
    }

    // MARK: Transition

    /// What one event writes, given the incident as stored.
    public func changes(for event: Event, input: TransitionInput, at now: Timestamp) -> IncidentChanges {
        var before = input.incident?.state
        // After resolve, the key may open a new incident (incident.v1 `incident_key`).
        if case .trigger = event, before?.isResolved == true { before = nil }
        var machine = IncidentStateMachine(plan: plan, state: before)
        let actions = machine.handle(event, at: now)
        let after = machine.state
        var changes = IncidentChanges(state: after == before ? nil : after, actions: actions, at: now)
        guard let incident = after ?? input.incident?.state else { return changes }

        switch event {
        case .trigger(let trigger): changes.parcels += trigger.affected
        case .update(let update): changes.parcels += update.affected
        default: break
        }
        for action in actions {
            switch action {
            case .page(let page):
                changes.outbox.append(outboxMessage(for: page, incident: incident, at: now))
            case .publishStatus(let update):
                changes.outbox.append(outboxMessage(for: update, incident: incident))
            case .sendNotices(let batch):
                for parcel in recipients(of: batch, known: input.parcels, new: changes.parcels) {
                    changes.noticesSent.append(NoticeMark(waybill: parcel.waybill, kind: batch.kind))
                    changes.outbox.append(outboxMessage(for: batch, parcel: parcel, incident: incident, at: now))
                }
            case .scheduleDue, .cancelDue, .record:
                break  // `IncidentChanges(state:actions:at:)` has written them
            }
        }
        return changes
    }

    /// Progress notices go to every parcel each cadence; the others once per parcel.
    private func recipients(of batch: NoticeBatch, known: [AffectedParcel], new: [Parcel]) -> [Parcel] {
        switch batch.audience {
        case .parcels(let parcels):
            return parcels
        case .allAffected:
            let knownWaybills = Set(known.map(\.parcel.waybill))
            let all = known.map(\.parcel) + new.filter { !knownWaybills.contains($0.waybill) }
            if batch.kind == .progress { return all }
            let alreadySent = Set(known.filter { $0.noticesSent.contains(batch.kind) }.map(\.parcel.waybill))
            return all.filter { !alreadySent.contains($0.waybill) }
        }
    }

    // MARK: Outbox messages

    private func outboxMessage(for page: Page, incident: IncidentState, at now: Timestamp) -> OutboxMessage {
        let id = page.id.description
        let message = PageMessage(
            page: page, incident: incident, contactName: plan.contact(page.contact)?.name ?? page.contact.rawValue,
            text: renderer.render(page, incident: incident, at: now),
            token: signer.token(page: id, contact: page.contact.rawValue))
        return OutboxMessage(
            messageID: id, exchange: names.pagesExchange, routingKey: RoutingKey.page(page),
            properties: MessageProperties(correlationID: id, replyTo: names.repliesQueue), body: Self.encode(message))
    }

    private func outboxMessage(for update: StatusUpdate, incident: IncidentState) -> OutboxMessage {
        let message = StatusMessage(
            update: update, incident: incident, plan: plan, text: renderer.render(update, incident: incident))
        return OutboxMessage(
            messageID: update.id.description, exchange: names.statusExchange,
            routingKey: RoutingKey.status(type: incident.type, state: update.state),
            properties: MessageProperties(), body: Self.encode(message))
    }

    private func outboxMessage(
        for batch: NoticeBatch, parcel: Parcel, incident: IncidentState, at now: Timestamp
    ) -> OutboxMessage {
        let message = NoticeMessage(
            batch: batch, incident: incident.id, parcel: parcel, locale: parcel.locale ?? plan.defaultLocale,
            text: renderer.render(batch, parcel: parcel, incident: incident, at: now))
        return OutboxMessage(
            messageID: message.noticeID, exchange: names.noticesExchange,
            routingKey: RoutingKey.notice(batch.kind, drill: batch.drill), properties: MessageProperties(),
            body: Self.encode(message))
    }

    private static func encode(_ message: some WireMessage) -> Data {
        Data(WireJSON.encode(message))
    }
}
