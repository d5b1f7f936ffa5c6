public import CallTree
import PlanFile
public import Rendering

/// Runs a plan on a virtual clock: a trigger at +0, then every due time in time order, with the
/// replies and the resolve the plan owner scripts. No broker, no store: what the plan would do.
public struct Simulation: Sendable {
    public struct Options: Sendable {
        public var type: IncidentTypeID
        public var severity: Severity
        /// A department acknowledges at an offset: by `contact`, or by the first contact paged in
        /// the department.
        public var acks: [Reply] = []
        /// A department's current step is passed on at an offset.
        public var escalations: [Reply] = []
        public var resolveAfter: Duration?
        public var affected: Int = 0
        public var drill: Bool = false
        /// The customers' locale; the plan's default when nil. Status texts use it too.
        public var locale: String?
        public var title: String?
        public var eta: Duration?
        /// Nothing after this offset is simulated, so status cadences end.
        public var horizon: Duration = .seconds(24 * 3600)
        /// The wall-clock time of the trigger, for the times written in texts.
        public var start: Timestamp

        public struct Reply: Sendable, Hashable {
            public var department: DepartmentID
            public var contact: ContactID?
            public var after: Duration

            public init(department: DepartmentID, contact: ContactID? = nil, after: Duration) {
                self.department = department
                self.contact = contact
                self.after = after
            }
        }

        public init(type: IncidentTypeID, severity: Severity, start: Timestamp) {
            self.type = type
            self.severity = severity
            self.start = start
        }
    }

    public let renderer: Renderer
    public let options: Options

    public init(renderer: Renderer, options: Options) {
        self.renderer = renderer
        self.options = options
    }

    private var plan: Plan { renderer.document.plan }

    /// What is wrong with the options for this plan, one message each; empty when they are fine.
    public func problems() -> [String] {
        var problems: [String] = []
        if plan.incidentType(options.type) == nil {
            problems.append(
                "unknown incident type '\(options.type)'; the plan has \(plan.incidentTypes.map(\.id.rawValue).joined(separator: ", "))")
        }
        if plan.severityLevel(options.severity) == nil {
            problems.append("the plan has no severity \(options.severity.rawValue)")
        }
        for reply in options.acks + options.escalations {
            if plan.department(reply.department) == nil {
                problems.append(
                    "unknown department '\(reply.department)'; the plan has \(plan.departments.map(\.id.rawValue).joined(separator: ", "))")
            } else if let contact = reply.contact, plan.department(reply.department)?.callOrder.contacts.contains(contact) != true {
                problems.append("contact '\(contact)' is not in the call order of \(reply.department)")
            }
        }
        if let locale = options.locale, !renderer.document.locales.contains(locale) {
            problems.append("unknown locale '\(locale)'; the plan speaks \(renderer.document.locales.joined(separator: ", "))")
        }
        return problems
    }

    /// The parcels the simulated incident affects: `SIM000001`, ...
    public var parcels: [Parcel] {
        (0..<max(0, options.affected)).map { index in
            let number = String(index + 1)
            return Parcel(
                waybill: "SIM" + String(repeating: "0", count: max(0, 6 - number.count)) + number,
                customerID: "sim-customer-\(index + 1)", locale: options.locale)
        }
    }

    private enum Scripted {
        case ack(Options.Reply)
        case escalate(Options.Reply)
        case resolve
    }

    public func run() -> SimulatedTimeline {
        let start = options.start
        let incident = IncidentID("sim-1")
        var machine = IncidentStateMachine(plan: plan)
        var due: [DueID: Timestamp] = [:]
        var timeline = SimulatedTimeline(
            plan: plan.name, type: options.type.rawValue,
            typeName: renderer.document.names.incidentType(options.type, locale: locale) ?? options.type.rawValue,
            severity: options.severity.roman,
            severityName: renderer.document.names.severity(options.severity, locale: locale) ?? "",
            drill: options.drill, affected: options.affected, locale: locale, entries: [], samples: [], end: "")
        var pagesSent: [Page] = []
        let parcels = self.parcels

        func offset(_ now: Timestamp) -> Int64 { (now - start).milliseconds }

        func feed(_ event: Event, at now: Timestamp) {
            let actions = machine.handle(event, at: now)
            guard let state = machine.state else { return }
            for action in actions {
                var entry = SimulatedTimeline.Entry(offsetMilliseconds: offset(now), kind: .note)
                switch action {
                case .scheduleDue(let time):
                    due[time.id] = time.at
                    continue
                case .cancelDue(let id):
                    due[id] = nil
                    continue
                case .page(let page):
                    pagesSent.append(page)
                    entry.kind = .page
                    entry.department = page.department.rawValue
                    entry.round = page.position.round
                    entry.step = page.position.step
                    entry.contact = page.contact.rawValue
                    entry.contactName = plan.contact(page.contact)?.name
                    entry.channel = page.channel.channel.rawValue
                    entry.address = page.channel.address
                    entry.ackDeadlineOffsetMilliseconds = offset(page.ackDeadline)
                    entry.text = renderer.render(page, incident: state, at: now)
                case .publishStatus(let update):
                    entry.kind = .status
                    entry.sequence = update.sequence
                    entry.state = update.state.rawValue
                    entry.detail = update.reason.description
                    entry.text = renderer.render(update, incident: state, locale: locale)
                case .sendNotices(let batch):
                    let audience: [Parcel]
                    switch batch.audience {
                    case .parcels(let listed): audience = listed
                    case .allAffected: audience = parcels
                    }
                    entry.kind = .notices
                    entry.notice = batch.kind.rawValue
                    entry.count = audience.count
                    if let first = audience.first, !timeline.samples.contains(where: { $0.kind == batch.kind.rawValue }) {
                        timeline.samples.append(
                            .init(
                                kind: batch.kind.rawValue, waybill: first.waybill,
                                text: renderer.render(batch, parcel: first, incident: state, at: now)))
                    }
                case .record(let record):
                    guard let described = describe(record.event, into: &entry) else { continue }
                    entry.detail = described
                }
                timeline.entries.append(entry)
            }
        }

        var trigger = Trigger(
            incident: incident, key: "simulation", type: options.type, severity: options.severity,
            title: options.title ?? "SIMULATION \(options.type)", affected: parcels, drill: options.drill)
        trigger.eta = options.eta.map { start + $0 }
        trigger.occurredAt = start
        feed(.trigger(trigger), at: start)

        var scripted: [(Duration, Scripted)] =
            options.acks.map { ($0.after, .ack($0)) } + options.escalations.map { ($0.after, .escalate($0)) }
        if let resolveAfter = options.resolveAfter { scripted.append((resolveAfter, .resolve)) }
        scripted = scripted.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element)
        let horizon = start + options.horizon
        var replyNumber = 0

        while machine.state?.isResolved == false {
            let nextDue = due.min { ($0.value, $0.key.description) < ($1.value, $1.key.description) }
            let nextScripted = scripted.first.map { start + $0.0 }
            let stepsPending = due.keys.contains { if case .stepDeadline = $0 { true } else { false } }
            if !stepsPending && nextScripted == nil {
                let cadence = plan.severityLevel(machine.state?.severity ?? options.severity)?.statusCadence
                timeline.end =
                    "paging is over; the incident stays open"
                    + (cadence.map { " with a status update every \(DurationText.format($0))" } ?? "") + " until it is resolved"
                return timeline
            }
            // A reply at the very moment a step times out is taken first: it arrived in time.
            if let at = nextScripted, nextDue.map({ at <= $0.value }) ?? true {
                guard at <= horizon else { break }
                let (_, action) = scripted.removeFirst()
                replyNumber += 1
                switch action {
                case .resolve:
                    feed(.resolve(note: "simulated resolve"), at: at)
                case .ack(let reply), .escalate(let reply):
                    let isAck = if case .ack = action { true } else { false }
                    guard let page = pageToAnswer(reply, isAck: isAck, pages: pagesSent, state: machine.state) else {
                        timeline.entries.append(
                            .init(
                                offsetMilliseconds: offset(at), kind: .note, department: reply.department.rawValue,
                                detail: "\(isAck ? "ack" : "escalate") for \(reply.department) not sent: "
                                    + (isAck ? "nobody in it has been paged yet" : "it is not being paged")))
                        continue
                    }
                    feed(
                        .reply(
                            Reply(
                                replyID: "sim-reply-\(replyNumber)", page: page.id, contact: reply.contact ?? page.contact,
                                action: isAck ? .ack : .escalate)), at: at)
                }
                continue
            }
            guard let nextDue, nextDue.value <= horizon else { break }
            due[nextDue.key] = nil
            feed(.dueTimeReached(nextDue.key), at: nextDue.value)
        }
        if machine.state?.isResolved == true {
            timeline.end = "resolved"
        } else {
            timeline.end = "stopped at the horizon of \(DurationText.format(options.horizon)) with the incident still open"
        }
        return timeline
    }

    private var locale: String { options.locale ?? plan.defaultLocale }

    /// The page a scripted reply answers: for an ack, the first page of the department (or of
    /// the named contact); for an escalate, a page of the department's current step.
    private func pageToAnswer(_ reply: Options.Reply, isAck: Bool, pages: [Page], state: IncidentState?) -> Page? {
        let ofDepartment = pages.filter { $0.department == reply.department }
        if isAck {
            if let contact = reply.contact { return ofDepartment.last { $0.contact == contact } }
            return ofDepartment.first
        }
        guard case .paging(let position, _) = state?.branch(reply.department)?.progress else { return nil }
        return ofDepartment.first { $0.position == position && (reply.contact == nil || $0.contact == reply.contact) }
    }

    /// The timeline entries worth showing; pages, notices and status updates come from their
    /// own actions.
    private func describe(_ event: TimelineEvent, into entry: inout SimulatedTimeline.Entry) -> String? {
        switch event {
        case .opened(let type, let severity, let drill):
            entry.kind = .opened
            return "\(type) severity \(severity)\(drill ? " (drill)" : "")"
        case .updated:
            return nil
        case .departmentEngaged(let department, let reason):
            entry.kind = .engaged
            entry.department = department.rawValue
            switch reason {
            case .activation: return "engaged by the activation rule"
            case .severityRaised: return "engaged after the severity was raised"
            case .fallback(let from): return "engaged as the fallback of \(from)"
            }
        case .stepTimedOut(let department, let position):
            entry.kind = .timeout
            entry.department = department.rawValue
            entry.round = position.round
            entry.step = position.step
            return "no ack in time"
        case .escalated(let department, let position, let by):
            entry.kind = .escalate
            entry.department = department.rawValue
            entry.round = position.round
            entry.step = position.step
            entry.contact = by.rawValue
            return "passed on by \(by)"
        case .acknowledged(let department, let by, _, let channel, let sinceFirstPage, let late):
            entry.kind = .ack
            entry.department = department.rawValue
            entry.contact = by.rawValue
            entry.channel = channel?.rawValue
            let after = sinceFirstPage.map { " \(DurationText.format($0)) after the first page" } ?? ""
            return "acknowledged by \(by)\(after)\(late ? ", after the department was exhausted" : "")"
        case .alsoAcknowledged(let department, let by, _):
            entry.kind = .ack
            entry.department = department.rawValue
            entry.contact = by.rawValue
            return "also acknowledged by \(by); nothing changes"
        case .exhausted(let department, let fallback):
            entry.kind = .exhausted
            entry.department = department.rawValue
            return "call order exhausted" + (fallback.map { "; falls back to \($0)" } ?? "; no fallback")
        case .replyRefused(_, _, let contact, let action, let reason):
            entry.kind = .refused
            entry.contact = contact.rawValue
            return "\(action.rawValue) refused: \(reason)"
        case .resolved(let by, _):
            entry.kind = .resolved
            return "resolved by \(by)"
        case .ignored(let what, let reason):
            return "\(what) ignored: \(reason)"
        }
    }
}
