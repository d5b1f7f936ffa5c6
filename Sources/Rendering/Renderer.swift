public import CallTree
import Mustache
public import PlanFile

/// Renders the actions of the state machine into the texts people read, with the plan's
/// Mustache templates. Built once per loaded plan; rendering never fails: a variable without a
/// value renders empty, and an inverted section (`{{^eta}}...{{/eta}}`) can say so.
public struct Renderer: Sendable {
    public let document: PlanDocument
    private let compiled: [TemplateID: [String: MustacheTemplate]]

    /// Compiles every template of the plan. The loader has checked them with
    /// `Renderer.checker`; a template that does not compile is left out and renders empty.
    public init(document: PlanDocument) {
        self.document = document
        var compiled: [TemplateID: [String: MustacheTemplate]] = [:]
        for (id, byLocale) in document.templates {
            for (locale, source) in byLocale {
                compiled[id, default: [:]][locale] = try? MustacheTemplate(string: Self.textPragma + source.text)
            }
        }
        self.compiled = compiled
    }

    /// Loads and checks the plan at `path`, templates included, and compiles its templates.
    public static func load(contentsOf path: String) throws(PlanProblems) -> Renderer {
        Renderer(document: try PlanLoader.load(contentsOf: path, templates: checker))
    }

    /// Checks template texts against the variables of `TemplateVariables`.
    public static var checker: any TemplateChecker { MustacheTemplateChecker() }

    /// Texts are messages, not HTML: nothing is escaped.
    static let textPragma = "{{% CONTENT_TYPE: TEXT}}"

    private var plan: Plan { document.plan }

    // MARK: Actions

    /// The text of a page, in the contact's locale.
    public func render(_ page: Page, incident: IncidentState, at now: Timestamp) -> String {
        let locale = locale(of: page)
        return render(.page, locale: locale, values(page, incident: incident, at: now, locale: locale))
    }

    /// The locale a page is written in: its contact's, or the plan's default.
    public func locale(of page: Page) -> String {
        plan.contact(page.contact)?.locale ?? plan.defaultLocale
    }

    func values(_ page: Page, incident: IncidentState, at now: Timestamp, locale: String) -> TemplateValues {
        TemplateValues { name in
            switch name {
            case "department": departmentName(page.department, locale)
            case "department_id": page.department.rawValue
            case "responsibilities":
                document.names.responsibilities(page.department, locale: locale, defaultLocale: plan.defaultLocale)
                    ?? plan.department(page.department)?.responsibilities ?? []
            case "contact": plan.contact(page.contact)?.name ?? page.contact.rawValue
            case "contact_id": page.contact.rawValue
            case "channel": page.channel.channel.rawValue
            case "round": "\(page.position.round)"
            case "step": "\(page.position.step)"
            case "ack_by": time(page.ackDeadline)
            case "ack_within": DurationText.format(page.ackDeadline - now)
            case "page_id": page.id.description
            case "escalated_by": if case .escalatedBy(let by) = page.reason { contactName(by) } else { nil }
            case "fallback_from":
                if case .engaged(.fallback(let from)) = page.reason { departmentName(from, locale) } else { nil }
            default: common(name, incident, locale: locale, at: now)
            }
        }
    }

    /// The text of a status update for the command centre, in `locale` or the plan's default.
    public func render(_ update: StatusUpdate, incident: IncidentState, locale: String? = nil) -> String {
        let locale = locale ?? plan.defaultLocale
        return render(.status, locale: locale, values(update, incident: incident, locale: locale))
    }

    func values(_ update: StatusUpdate, incident: IncidentState, locale: String) -> TemplateValues {
        TemplateValues { name in
            switch name {
            case "state": Vocabulary(locale: locale).incident(update.state)
            case "sequence": "\(update.sequence)"
            case "reason":
                Vocabulary(locale: locale).reason(
                    update.reason, department: { departmentName($0, locale) }, contact: contactName)
            case "departments": departmentItems(update, locale: locale)
            default: common(name, incident, locale: locale, at: update.at)
            }
        }
    }

    private func departmentItems(_ update: StatusUpdate, locale: String) -> [[String: Any]] {
        let vocabulary = Vocabulary(locale: locale)
        return update.departments.map { status -> [String: Any] in
            var item: [String: Any] = [
                "department": departmentName(status.department, locale),
                "department_id": status.department.rawValue,
                "state": vocabulary.department(status.state),
            ]
            if let position = status.position {
                item["round"] = "\(position.round)"
                item["step"] = "\(position.step)"
            }
            let contacts = status.position.flatMap { stepContacts(status.department, $0) } ?? []
            if !contacts.isEmpty {
                item["contacts"] = contacts.map(contactName).joined(separator: ", ")
            }
            if let by = status.acknowledgedBy { item["acknowledged_by"] = contactName(by) }
            if let at = status.acknowledgedAt { item["acknowledged_at"] = time(at) }
            return item
        }
    }

    /// The text of one notice of a batch, for one parcel, in its customer's locale.
    public func render(_ batch: NoticeBatch, parcel: Parcel, incident: IncidentState, at now: Timestamp) -> String {
        let locale = parcel.locale ?? plan.defaultLocale
        return render(batch.template, locale: locale, values(batch, parcel: parcel, incident: incident, at: now, locale: locale))
    }

    func values(_ batch: NoticeBatch, parcel: Parcel, incident: IncidentState, at now: Timestamp, locale: String)
        -> TemplateValues
    {
        TemplateValues { name in
            switch name {
            case "kind": batch.kind.rawValue
            case "waybill": parcel.waybill
            case "customer_id": parcel.customerID
            default: common(name, incident, locale: locale, at: now)
            }
        }
    }

    // MARK: Values

    /// The value of a variable every template has.
    private func common(_ name: String, _ incident: IncidentState, locale: String, at now: Timestamp) -> Any? {
        switch name {
        case "plan": plan.name
        case "drill": incident.drill
        case "incident_id": incident.id.rawValue
        case "incident_key": incident.key
        case "type":
            document.names.incidentType(incident.type, locale: locale)
                ?? plan.incidentType(incident.type)?.name ?? incident.type.rawValue
        case "type_id": incident.type.rawValue
        case "severity": incident.severity.roman
        case "severity_name":
            document.names.severity(incident.severity, locale: locale)
                ?? plan.severityLevel(incident.severity)?.name ?? incident.severity.roman
        case "title": incident.title
        case "opened_at": time(incident.openedAt)
        case "now": time(now)
        case "state": Vocabulary(locale: locale).incident(incident.overallStatus)
        case "affected": "\(incident.affectedParcels)"
        case "details": incident.details
        case "site": incident.site
        case "region": incident.region
        case "occurred_at": incident.occurredAt.map(time)
        case "eta": incident.eta.map(time)
        case "hotline": document.hotline
        case "support_email": document.supportEmail
        default: nil
        }
    }

    private func render(_ template: TemplateID, locale: String, _ values: TemplateValues) -> String {
        guard let compiled = compiled[template]?[locale] ?? compiled[template]?[plan.defaultLocale] else { return "" }
        return compiled.render(values)
    }

    /// Renders and lists the variables the template asked for that had no value: tests use it
    /// to show a plan's templates never print a blank where a value belongs.
    func renderListingMissing(_ template: TemplateID, locale: String, _ values: TemplateValues) -> (String, [String]) {
        guard let compiled = compiled[template]?[locale] else { return ("", ["<no template>"]) }
        let root = MissingValueRecorder(values)
        return (compiled.render(root), root.missing)
    }

    private func time(_ timestamp: Timestamp) -> String {
        TimeText.format(timestamp, utcOffsetSeconds: document.utcOffsetSeconds)
    }

    private func departmentName(_ id: DepartmentID, _ locale: String) -> String {
        document.names.department(id, locale: locale) ?? plan.department(id)?.name ?? id.rawValue
    }

    /// The contacts of the step a department has reached.
    private func stepContacts(_ department: DepartmentID, _ position: StepPosition) -> [ContactID]? {
        guard let steps = plan.department(department)?.callOrder.steps, steps.indices.contains(position.step - 1)
        else { return nil }
        return steps[position.step - 1].contacts
    }

    private func contactName(_ id: ContactID) -> String {
        plan.contact(id)?.name ?? id.rawValue
    }
}

/// The variables of one rendering, each worked out when the template asks for it: a template
/// names a few of the variables, and a value can cost a look-up in the plan or a time formatted.
struct TemplateValues: MustacheParent {
    let value: (String) -> Any?

    func child(named name: String) -> Any? {
        let value = value(name)
        if let text = value as? String { return Text(renderText: text) }
        return value
    }

    /// A text as Mustache renders it at once, without asking what else it might be; a section
    /// opened on it (`{{#site}}…{{site}}…{{/site}}`) looks every name up further down, and a
    /// transform (`{{uppercased(title)}}`) works as on the text itself.
    struct Text: MustacheCustomRenderable, MustacheParent, MustacheTransformable {
        let renderText: String
        var isNull: Bool { false }
        func child(named: String) -> Any? { nil }
        func transform(_ name: String) -> Any? { renderText.transform(name) }
    }
}

/// Answers from the values and notes every name asked for that had no value.
private final class MissingValueRecorder: MustacheParent {
    let values: TemplateValues
    var missing: [String] = []

    init(_ values: TemplateValues) { self.values = values }

    func child(named name: String) -> Any? {
        guard let value = values.child(named: name) else {
            if !missing.contains(name) { missing.append(name) }
            return nil
        }
        return value
    }
}
