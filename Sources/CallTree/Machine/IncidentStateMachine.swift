/// The call tree of one incident: feed it events with the time they happen, perform the actions
/// it returns, persist `state` between events.
///
/// It never reads a clock, sleeps or does I/O, so the same plan, state and events always give
/// the same actions, on any worker.
public struct IncidentStateMachine: Sendable {
    public let plan: Plan
    /// Nil until the first trigger.
    public private(set) var state: IncidentState?

    public init(plan: Plan, state: IncidentState? = nil) {
        self.plan = plan
        self.state = state
    }

    public mutating func handle(_ event: Event, at now: Timestamp) -> [Action] {
        // Moved out, not copied, so the arrays inside stay uniquely referenced; put back on exit.
        guard var incident = state.take() else {
            if case .trigger(let trigger) = event {
                return open(trigger, at: now)
            }
            return [.record(TimelineEntry(at: now, event: .ignored(what: event.summary, reason: "the incident is not open")))]
        }
        defer { state = incident }
        var context = Transition(plan: plan, now: now)

        if incident.isResolved {
            switch event {
            case .dueTimeReached:
                break  // timers of a resolved incident are stale: nothing to say
            case .reply(let reply):
                context.refuse(reply, .incidentResolved)
            default:
                context.record(.ignored(what: event.summary, reason: "the incident is already resolved"))
            }
            return context.actions
        }

        switch event {
        case .trigger(let trigger):
            context.update(
                &incident,
                Update(severity: trigger.severity, title: trigger.title, details: trigger.details, eta: trigger.eta,
                    affected: trigger.affected))
        case .update(let update):
            context.update(&incident, update)
        case .resolve(let note):
            context.resolve(&incident, by: .upstream, note: note)
        case .reply(let reply):
            context.reply(&incident, reply)
        case .dueTimeReached(let due):
            context.dueTimeReached(&incident, due)
        }
        return context.actions
    }

    private mutating func open(_ trigger: Trigger, at now: Timestamp) -> [Action] {
        var incident = IncidentState(
            id: trigger.incident, key: trigger.key, type: trigger.type, severity: trigger.severity,
            title: trigger.title, details: trigger.details, site: trigger.site, region: trigger.region,
            occurredAt: trigger.occurredAt, eta: trigger.eta, drill: trigger.drill, openedAt: now,
            resolution: nil, departments: [], statusSequence: 0, cadenceNumber: 0,
            affectedParcels: trigger.affected.count)
        var context = Transition(plan: plan, now: now)
        context.record(.opened(type: trigger.type, severity: trigger.severity, drill: trigger.drill))
        let rule = plan.rule(for: trigger.type, at: trigger.severity)
        for department in rule?.departments ?? [] {
            context.engage(&incident, department, because: .activation)
        }
        if let rule, rule.notices.contains(.initial), !trigger.affected.isEmpty {
            context.notify(incident, .initial, .parcels(trigger.affected))
        }
        context.scheduleCadence(&incident)
        context.publishStatus(&incident, .opened)
        state = incident
        return context.actions
    }
}

/// The actions of one event being worked out: the rules of escalation live here.
private struct Transition {
    let plan: Plan
    let now: Timestamp
    var actions: [Action] = []

    init(plan: Plan, now: Timestamp) {
        self.plan = plan
        self.now = now
        actions.reserveCapacity(8)
    }

    mutating func record(_ event: TimelineEvent) {
        actions.append(.record(TimelineEntry(at: now, event: event)))
    }

    mutating func refuse(_ reply: Reply, _ reason: RefusalReason) {
        record(
            .replyRefused(
                replyID: reply.replyID, page: reply.page, contact: reply.contact, action: reply.action, reason: reason))
    }

    // MARK: Paging

    /// Starts a department's call order, unless it is already engaged.
    mutating func engage(_ incident: inout IncidentState, _ department: DepartmentID, because reason: EngagementReason) {
        guard incident.branch(department) == nil, let callOrder = plan.callOrder(of: department) else { return }
        incident.departments.append(
            DepartmentBranch(
                department: department, engagedAt: now, reason: reason, progress: .exhausted(at: now),
                furthestPaged: nil, firstPagedAt: nil))
        record(.departmentEngaged(department, reason))
        let index = incident.departments.count - 1
        if callOrder.steps.isEmpty || callOrder.rounds < 1 {
            exhaust(&incident, at: index)
        } else {
            pageStep(&incident, at: index, StepPosition(round: 1, step: 1), because: .engaged(reason))
        }
    }

    private mutating func pageStep(
        _ incident: inout IncidentState, at index: Int, _ position: StepPosition, because reason: PageReason
    ) {
        let department = incident.departments[index].department
        let step = plan.callOrder(of: department)!.steps[position.step - 1]
        let deadline = now + step.timeout
        incident.departments[index].progress = .paging(position, deadline: deadline)
        incident.departments[index].furthestPaged = position
        if incident.departments[index].firstPagedAt == nil {
            incident.departments[index].firstPagedAt = now
        }
        for contactID in step.contacts {
            guard let channel = plan.contact(contactID)?.channel(forRound: position.round) else { continue }
            actions.append(
                .page(
                    Page(
                        id: PageID(incident: incident.id, department: department, position: position, contact: contactID),
                        channel: channel, ackDeadline: deadline, reason: reason, template: .page,
                        drill: incident.drill)))
        }
        actions.append(.scheduleDue(DueTime(id: .stepDeadline(department, position), at: deadline)))
    }

    /// Moves a paging department to its next step, its next round, or to exhausted.
    private mutating func advance(_ incident: inout IncidentState, at index: Int, because reason: PageReason) {
        guard case .paging(let position, _) = incident.departments[index].progress else { return }
        let callOrder = plan.callOrder(of: incident.departments[index].department)!
        if position.step < callOrder.steps.count {
            pageStep(&incident, at: index, StepPosition(round: position.round, step: position.step + 1), because: reason)
        } else if position.round < callOrder.rounds {
            pageStep(&incident, at: index, StepPosition(round: position.round + 1, step: 1), because: reason)
        } else {
            exhaust(&incident, at: index)
        }
    }

    private mutating func exhaust(_ incident: inout IncidentState, at index: Int) {
        let department = incident.departments[index].department
        let fallback = plan.callOrder(of: department)?.fallback
        incident.departments[index].progress = .exhausted(at: now)
        record(.exhausted(department, fallback: fallback))
        if let fallback {
            engage(&incident, fallback, because: .fallback(from: department))
        }
    }

    // MARK: Events

    mutating func dueTimeReached(_ incident: inout IncidentState, _ due: DueID) {
        switch due {
        case .stepDeadline(let department, let position):
            guard let index = incident.departments.firstIndex(where: { $0.department == department }),
                case .paging(position, _) = incident.departments[index].progress
            else { return }  // stale: the step moved on or the department answered
            record(.stepTimedOut(department, position))
            advance(&incident, at: index, because: .previousStepTimedOut)
            let reason: StatusReason = incident.departments[index].isPaging ? .stepTimedOut(department) : .exhausted(department)
            publishStatus(&incident, reason)
        case .statusCadence(let number):
            guard number == incident.cadenceNumber else { return }
            if plan.rule(for: incident.type, at: incident.severity)?.notices.contains(.progress) == true,
                incident.affectedParcels > 0
            {
                notify(incident, .progress, .allAffected, sequence: number)
            }
            publishStatus(&incident, .cadence)
            scheduleCadence(&incident)
        }
    }

    mutating func reply(_ incident: inout IncidentState, _ reply: Reply) {
        let page = reply.page
        guard page.incident == incident.id else {
            return refuse(reply, .pageOfAnotherIncident(page.incident))
        }
        guard let index = incident.departments.firstIndex(where: { $0.department == page.department }),
            let callOrder = plan.callOrder(of: page.department)
        else {
            return refuse(reply, .departmentNotEngaged(page.department))
        }
        guard callOrder.contains(reply.contact) else {
            return refuse(reply, .notAContactOf(page.department))
        }
        let branch = incident.departments[index]
        guard let furthest = branch.furthestPaged, page.position <= furthest,
            page.position.step <= callOrder.steps.count,
            callOrder.steps[page.position.step - 1].contacts.contains(page.contact)
        else {
            return refuse(reply, .pageNotSent(page))
        }

        switch reply.action {
        case .ack:
            acknowledge(&incident, at: index, reply)
        case .escalate:
            guard case .paging(let current, _) = branch.progress else {
                return refuse(reply, .departmentNotPaging(page.department))
            }
            guard current == page.position else {
                return refuse(reply, .stepAlreadyPassed(page.position))
            }
            actions.append(.cancelDue(.stepDeadline(page.department, current)))
            record(.escalated(page.department, current, by: reply.contact))
            advance(&incident, at: index, because: .escalatedBy(reply.contact))
            let reason: StatusReason = incident.departments[index].isPaging
                ? .escalated(page.department, by: reply.contact) : .exhausted(page.department)
            publishStatus(&incident, reason)
        case .resolve:
            guard plan.contact(reply.contact)?.mayResolve == true else {
                return refuse(reply, .notAllowedToResolve)
            }
            if branch.isPaging || !isAcknowledged(branch) {
                acknowledge(&incident, at: index, reply, publish: false)
            }
            resolve(&incident, by: .contact(reply.contact), note: reply.note)
        }
    }

    private func isAcknowledged(_ branch: DepartmentBranch) -> Bool {
        if case .acknowledged = branch.progress { return true }
        return false
    }

    private mutating func acknowledge(_ incident: inout IncidentState, at index: Int, _ reply: Reply, publish: Bool = true) {
        let branch = incident.departments[index]
        let late: Bool
        switch branch.progress {
        case .acknowledged:
            return record(.alsoAcknowledged(branch.department, by: reply.contact, page: reply.page))
        case .paging(let current, _):
            late = false
            actions.append(.cancelDue(.stepDeadline(branch.department, current)))
        case .exhausted:
            late = true
        }
        incident.departments[index].progress = .acknowledged(by: reply.contact, at: now)
        record(
            .acknowledged(
                branch.department, by: reply.contact, page: reply.page,
                channel: plan.contact(reply.page.contact)?.channel(forRound: reply.page.position.round)?.channel,
                sinceFirstPage: branch.firstPagedAt.map { now - $0 }, late: late))
        if publish {
            publishStatus(&incident, .acknowledged(branch.department, by: reply.contact))
        }
    }

    mutating func resolve(_ incident: inout IncidentState, by resolver: Resolver, note: String?) {
        for branch in incident.departments {
            if case .paging(let position, _) = branch.progress {
                actions.append(.cancelDue(.stepDeadline(branch.department, position)))
            }
        }
        if plan.severityLevel(incident.severity)?.statusCadence != nil, incident.cadenceNumber > 0 {
            actions.append(.cancelDue(.statusCadence(incident.cadenceNumber)))
        }
        incident.resolution = Resolution(at: now, by: resolver, note: note)
        record(.resolved(by: resolver, note: note))
        if let rule = plan.rule(for: incident.type, at: incident.severity), incident.affectedParcels > 0 {
            for kind in [NoticeKind.resolved, .compensation] where rule.notices.contains(kind) {
                notify(incident, kind, .allAffected)
            }
        }
        publishStatus(&incident, .resolved(resolver))
    }

    mutating func update(_ incident: inout IncidentState, _ update: Update) {
        let previous = incident.severity
        var changed = false
        if let title = update.title, title != incident.title { incident.title = title; changed = true }
        if let details = update.details, details != incident.details { incident.details = details; changed = true }
        if let eta = update.eta, eta != incident.eta { incident.eta = eta; changed = true }
        let newSeverity = update.severity.flatMap { $0 != previous ? $0 : nil }
        if !changed, newSeverity == nil, update.affected.isEmpty { return }
        record(.updated(severity: newSeverity, previous: previous, addedParcels: update.affected.count))

        if let newSeverity {
            incident.severity = newSeverity
            // Departments already engaged keep their place in their call order: nobody is paged twice.
            for department in plan.rule(for: incident.type, at: newSeverity)?.departments ?? [] {
                engage(&incident, department, because: .severityRaised)
            }
            if plan.severityLevel(newSeverity)?.statusCadence != plan.severityLevel(previous)?.statusCadence {
                if incident.cadenceNumber > 0, plan.severityLevel(previous)?.statusCadence != nil {
                    actions.append(.cancelDue(.statusCadence(incident.cadenceNumber)))
                }
                scheduleCadence(&incident)
            }
        }
        if !update.affected.isEmpty {
            incident.affectedParcels += update.affected.count
            if plan.rule(for: incident.type, at: incident.severity)?.notices.contains(.initial) == true {
                notify(incident, .initial, .parcels(update.affected))
            }
        }
        publishStatus(&incident, .updated)
    }

    // MARK: Status and notices

    mutating func scheduleCadence(_ incident: inout IncidentState) {
        incident.cadenceNumber += 1
        guard let cadence = plan.severityLevel(incident.severity)?.statusCadence else { return }
        actions.append(.scheduleDue(DueTime(id: .statusCadence(incident.cadenceNumber), at: now + cadence)))
    }

    mutating func notify(
        _ incident: IncidentState, _ kind: NoticeKind, _ audience: NoticeBatch.Audience, sequence: Int? = nil
    ) {
        actions.append(
            .sendNotices(
                NoticeBatch(kind: kind, sequence: sequence, audience: audience, template: .notice(kind), drill: incident.drill)))
    }

    mutating func publishStatus(_ incident: inout IncidentState, _ reason: StatusReason) {
        incident.statusSequence += 1
        actions.append(
            .publishStatus(
                StatusUpdate(
                    id: StatusUpdateID(incident: incident.id, sequence: incident.statusSequence),
                    state: incident.overallStatus, reason: reason, at: now, branches: incident.departments,
                    template: .status, drill: incident.drill)))
    }
}

extension Event {
    /// A short name for the timeline when an event is ignored.
    var summary: String {
        switch self {
        case .trigger: "trigger"
        case .update: "update"
        case .resolve: "resolve"
        case .reply(let reply): "\(reply.action.rawValue) reply \(reply.replyID)"
        case .dueTimeReached(let due): "due time \(due)"
        }
    }
}
