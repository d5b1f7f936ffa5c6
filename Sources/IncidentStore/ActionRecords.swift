import CallTree

extension IncidentChanges {
    /// The changes of a call-tree transition that need no rendering: the new state, a timeline
    /// entry per page, status update, notice batch and recorded event, and the due times to
    /// schedule and cancel. The worker adds the outbox messages (rendered pages, notices, status
    /// updates), the parcels and the notice marks.
    /// `now` is the time the event was handled at: pages and notices are sent then.
    public init(state: IncidentState?, actions: [Action], at now: Timestamp) {
        self.init(state: state)
        for action in actions {
            switch action {
            case .page(let page):
                timeline.append(TimelineItem(page: page, at: now))
            case .scheduleDue(let due):
                schedule.append(DueSchedule(due.id, at: due.at))
            case .cancelDue(let id):
                cancel.append(id)
            case .publishStatus(let update):
                timeline.append(TimelineItem(status: update))
            case .sendNotices(let batch):
                timeline.append(TimelineItem(notices: batch, at: now))
            case .record(let entry):
                timeline.append(TimelineItem(entry))
            }
        }
    }
}

extension TimelineItem {
    public init(page: Page, at now: Timestamp) {
        self.init(
            at: now, kind: .page, department: page.department, contact: page.contact,
            channel: page.channel.channel.rawValue, reference: page.id.description,
            summary: "paged \(page.contact) of \(page.department) by \(page.channel.channel.rawValue) (\(page.position))",
            detail: [
                "ack_deadline": "\(page.ackDeadline.millisecondsSinceEpoch)", "reason": "\(page.reason)",
                "drill": page.drill ? "true" : "false",
            ])
    }

    public init(status: StatusUpdate) {
        self.init(
            at: status.at, kind: .statusUpdate, reference: status.id.description,
            summary: "status update \(status.sequence): \(status.state.rawValue), \(status.reason)",
            detail: ["state": status.state.rawValue, "reason": status.reason.description, "seq": "\(status.sequence)"])
    }

    public init(notices batch: NoticeBatch, at: Timestamp) {
        let audience: String
        switch batch.audience {
        case .parcels(let parcels): audience = "\(parcels.count) parcels"
        case .allAffected: audience = "all affected parcels"
        }
        self.init(
            at: at, kind: .notices, reference: batch.kind.rawValue,
            summary: "\(batch.kind.rawValue) notices to \(audience)\(batch.drill ? " (drill: under drill.notice.*, never to customers)" : "")",
            detail: ["kind": batch.kind.rawValue, "audience": audience, "drill": batch.drill ? "true" : "false"])
    }

    public init(_ entry: TimelineEntry) {
        let at = entry.at
        switch entry.event {
        case .opened(let type, let severity, let drill):
            self.init(
                at: at, kind: .opened, summary: "opened: \(type), severity \(severity)\(drill ? " (drill)" : "")",
                detail: ["type": type.rawValue, "severity": "\(severity.rawValue)", "drill": drill ? "true" : "false"])
        case .updated(let severity, let previous, let addedParcels):
            var detail = ["previous_severity": "\(previous.rawValue)", "added_parcels": "\(addedParcels)"]
            detail["severity"] = severity.map { "\($0.rawValue)" }
            let change = severity.map { "severity \(previous) → \($0)" } ?? "details changed"
            self.init(
                at: at, kind: .updated, summary: "updated: \(change), \(addedParcels) parcels added", detail: detail)
        case .departmentEngaged(let department, let reason):
            self.init(
                at: at, kind: .departmentEngaged, department: department,
                summary: "\(department) engaged (\(reason))", detail: ["reason": "\(reason)"])
        case .stepTimedOut(let department, let position):
            self.init(
                at: at, kind: .stepTimedOut, department: department, summary: "\(department): \(position) timed out",
                detail: ["round": "\(position.round)", "step": "\(position.step)"])
        case .escalated(let department, let position, let contact):
            self.init(
                at: at, kind: .escalated, department: department, contact: contact,
                summary: "\(department): \(contact) passed \(position) on",
                detail: ["round": "\(position.round)", "step": "\(position.step)"])
        case .acknowledged(let department, let contact, let page, let channel, let sinceFirstPage, let late):
            let after = sinceFirstPage.map { " after \($0.milliseconds / 1000)s" } ?? ""
            self.init(
                at: at, kind: .acknowledged, department: department, contact: contact, channel: channel?.rawValue,
                reference: page.description, sinceFirstPage: sinceFirstPage,
                summary: "\(department) acknowledged by \(contact)\(channel.map { " by \($0.rawValue)" } ?? "")\(after)"
                    + (late ? " (late: paging had stopped)" : ""),
                detail: ["late": late ? "true" : "false"])
        case .alsoAcknowledged(let department, let contact, let page):
            self.init(
                at: at, kind: .alsoAcknowledged, department: department, contact: contact,
                reference: page.description, summary: "\(department) also acknowledged by \(contact)")
        case .exhausted(let department, let fallback):
            var detail: [String: String] = [:]
            detail["fallback"] = fallback?.rawValue
            self.init(
                at: at, kind: .exhausted, department: department,
                summary: "\(department): call order exhausted" + (fallback.map { ", falling back to \($0)" } ?? ""),
                detail: detail)
        case .replyRefused(let replyID, let page, let contact, let action, let reason):
            self.init(
                at: at, kind: .replyRefused, department: page.department, contact: contact, reference: replyID,
                summary: "\(action.rawValue) reply \(replyID) from \(contact) refused: \(reason)",
                detail: ["page": page.description, "action": action.rawValue, "reason": reason.description])
        case .resolved(let resolver, let note):
            var detail = ["by": resolver.description]
            detail["note"] = note
            var contact: ContactID?
            if case .contact(let id) = resolver { contact = id }
            self.init(
                at: at, kind: .resolved, contact: contact,
                summary: "resolved by \(resolver)" + (note.map { ": \($0)" } ?? ""), detail: detail)
        case .ignored(let what, let reason):
            self.init(
                at: at, kind: .ignored, summary: "ignored \(what): \(reason)", detail: ["what": what, "reason": reason])
        }
    }
}
