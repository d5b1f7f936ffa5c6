/// What the caller must do after an event. The machine decides; the worker performs, in one
/// `switch`, in the order given.
public enum Action: Sendable, Hashable {
    /// Send a page to a contact.
    case page(Page)
    /// Keep a due time and feed it back as `.dueTimeReached` when it comes.
    case scheduleDue(DueTime)
    /// Forget a due time; feeding it back anyway would do nothing.
    case cancelDue(DueID)
    /// Tell the command centre where the incident stands.
    case publishStatus(StatusUpdate)
    /// Send one customer notice of a kind per parcel in the audience.
    case sendNotices(NoticeBatch)
    /// Add an entry to the incident's timeline (pages, notices and status updates are recorded
    /// from their own actions).
    case record(TimelineEntry)
}

public struct Page: Sendable, Hashable {
    public var id: PageID
    public var channel: ContactChannel
    /// Sent at the time of the event; the step times out here.
    public var ackDeadline: Timestamp
    public var reason: PageReason
    public var template: TemplateID
    public var drill: Bool

    public var department: DepartmentID { id.department }
    public var contact: ContactID { id.contact }
    public var position: StepPosition { id.position }
}

public enum PageReason: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The first step of a newly engaged department.
    case engaged(EngagementReason)
    /// The previous step was not acknowledged in time.
    case previousStepTimedOut
    /// A contact of the previous step passed it on.
    case escalatedBy(ContactID)

    /// Words for the timeline (what the command centre reads), not Swift's reflection of the case.
    public var description: String {
        switch self {
        case .engaged(let reason): "department engaged: \(reason)"
        case .previousStepTimedOut: "previous step timed out"
        case .escalatedBy(let contact): "escalated by \(contact)"
        }
    }
}

public struct DueTime: Sendable, Hashable {
    public var id: DueID
    public var at: Timestamp

    public init(id: DueID, at: Timestamp) {
        self.id = id
        self.at = at
    }
}

public struct StatusUpdate: Sendable, Hashable {
    public var id: StatusUpdateID
    public var state: IncidentStatus
    public var reason: StatusReason
    public var at: Timestamp
    /// The incident's branches as they stood: a shared snapshot of the state, not a copy.
    public var branches: [DepartmentBranch]
    public var template: TemplateID
    public var drill: Bool

    public var sequence: Int { id.sequence }

    /// Where each engaged department stands, in the order they were engaged.
    public var departments: [DepartmentStatus] { branches.map(DepartmentStatus.init) }
}

/// What made a status update; its description is status.v1's `reason`.
public enum StatusReason: Sendable, Hashable, CustomStringConvertible {
    case opened
    case updated
    case stepTimedOut(DepartmentID)
    case escalated(DepartmentID, by: ContactID)
    case acknowledged(DepartmentID, by: ContactID)
    case exhausted(DepartmentID)
    case cadence
    case resolved(Resolver)

    public var description: String {
        switch self {
        case .opened: "opened"
        case .updated: "updated"
        case .stepTimedOut(let department): "\(department): step timed out"
        case .escalated(let department, let contact): "\(department): escalated by \(contact)"
        case .acknowledged(let department, let contact): "\(department): acknowledged by \(contact)"
        case .exhausted(let department): "\(department): call order exhausted"
        case .cadence: "scheduled progress update"
        case .resolved(let resolver): "resolved by \(resolver)"
        }
    }
}

public struct DepartmentStatus: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, Codable {
        case paging, acknowledged, exhausted
    }

    public var department: DepartmentID
    public var state: State
    /// The furthest step paged.
    public var position: StepPosition?
    public var acknowledgedBy: ContactID?
    public var acknowledgedAt: Timestamp?

    public init(_ branch: DepartmentBranch) {
        department = branch.department
        position = branch.furthestPaged
        switch branch.progress {
        case .paging:
            state = .paging
        case .acknowledged(let contact, let at):
            state = .acknowledged
            acknowledgedBy = contact
            acknowledgedAt = at
        case .exhausted:
            state = .exhausted
        }
    }

    /// The contacts of the furthest step paged.
    public func contacts(in plan: Plan) -> [ContactID] {
        guard let position, let steps = plan.callOrder(of: department)?.steps,
            steps.indices.contains(position.step - 1)
        else { return [] }
        return steps[position.step - 1].contacts
    }
}

public struct NoticeBatch: Sendable, Hashable {
    public enum Audience: Sendable, Hashable {
        /// Just these parcels (newly reported ones).
        case parcels([Parcel])
        /// Every parcel recorded for the incident so far; the store knows them.
        case allAffected
    }

    public var kind: NoticeKind
    /// For progress notices, the cadence that sent them: each cadence's notices are new ones.
    public var sequence: Int?
    public var audience: Audience
    public var template: TemplateID
    public var drill: Bool

    public func noticeID(incident: IncidentID, waybill: String) -> NoticeID {
        NoticeID(incident: incident, kind: kind, sequence: sequence, waybill: waybill)
    }
}

public struct TimelineEntry: Sendable, Hashable {
    public var at: Timestamp
    public var event: TimelineEvent

    public init(at: Timestamp, event: TimelineEvent) {
        self.at = at
        self.event = event
    }
}

/// The record of what happened, for the report after the incident (seed ch.3 §5, §8).
public enum TimelineEvent: Sendable, Hashable {
    case opened(type: IncidentTypeID, severity: Severity, drill: Bool)
    case updated(severity: Severity?, previous: Severity, addedParcels: Int)
    case departmentEngaged(DepartmentID, EngagementReason)
    case stepTimedOut(DepartmentID, StepPosition)
    case escalated(DepartmentID, StepPosition, by: ContactID)
    /// `sinceFirstPage` is the department's time to acknowledge.
    case acknowledged(
        DepartmentID, by: ContactID, page: PageID, channel: Channel?, sinceFirstPage: Duration?, late: Bool)
    /// A further ack for a department already acknowledged: noted, changes nothing.
    case alsoAcknowledged(DepartmentID, by: ContactID, page: PageID)
    case exhausted(DepartmentID, fallback: DepartmentID?)
    case replyRefused(replyID: String, page: PageID, contact: ContactID, action: ReplyAction, reason: RefusalReason)
    case resolved(by: Resolver, note: String?)
    /// An event that came after the incident was resolved, or before it opened.
    case ignored(what: String, reason: String)
}

/// Why a reply was not acted on; its description is what the timeline and the logs say.
public enum RefusalReason: Sendable, Hashable, CustomStringConvertible {
    case incidentNotOpen
    case incidentResolved
    case pageOfAnotherIncident(IncidentID)
    case departmentNotEngaged(DepartmentID)
    case pageNotSent(PageID)
    case notAContactOf(DepartmentID)
    case notAllowedToResolve
    case departmentNotPaging(DepartmentID)
    case stepAlreadyPassed(StepPosition)
    /// Checked by the caller before the machine sees the reply (token, unknown page).
    case rejected(String)

    public var description: String {
        switch self {
        case .incidentNotOpen: "the incident is not open"
        case .incidentResolved: "the incident is already resolved"
        case .pageOfAnotherIncident(let other): "the page belongs to incident \(other)"
        case .departmentNotEngaged(let department): "department \(department) is not engaged in this incident"
        case .pageNotSent(let page): "page \(page) was never sent"
        case .notAContactOf(let department): "the contact is not in the call order of \(department)"
        case .notAllowedToResolve: "the contact may not resolve incidents"
        case .departmentNotPaging(let department): "department \(department) is no longer being paged"
        case .stepAlreadyPassed(let position): "escalation has already moved past \(position)"
        case .rejected(let reason): reason
        }
    }
}
