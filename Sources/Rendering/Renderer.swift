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

    func values(_ page: Page, incident: IncidentState, at now: Timestamp, locale: String) -> [String: Any] {
        let contact = plan.contact(page.contact)
        var values = common(incident, locale: locale, at: now)
        values["department"] = departmentName(page.department, locale)
        values["department_id"] = page.department.rawValue
        values["responsibilities"] =
            document.names.responsibilities(page.department, locale: locale, defaultLocale: plan.defaultLocale)
            ?? plan.department(page.department)?.responsibilities ?? []
        values["contact"] = contact?.name ?? page.contact.rawValue
        values["contact_id"] = page.contact.rawValue
        values["channel"] = page.channel.channel.rawValue
        values["round"] = "\(page.position.round)"
        values["step"] = "\(page.position.step)"
        values["ack_by"] = time(page.ackDeadline)
        values["ack_within"] = DurationText.format(page.ackDeadline - now)
        values["page_id"] = page.id.description
        switch page.reason {
        case .escalatedBy(let by): values["escalated_by"] = contactName(by)
        case .engaged(.fallback(let from)): values["fallback_from"] = departmentName(from, locale)
        default: break
        }
        return values
    }

    /// The text of a status update for the command centre, in `locale` or the plan's default.
    public func render(_ update: StatusUpdate, incident: IncidentState, locale: String? = nil) -> String {
        let locale = locale ?? plan.defaultLocale
        return render(.status, locale: locale, values(update, incident: incident, locale: locale))
    }

    func values(_ update: StatusUpdate, incident: IncidentState, locale: String) -> [String: Any] {
        var values = common(incident, locale: locale, at: update.at)
        let vocabulary = Vocabulary(locale: locale)
        values["state"] = vocabulary.incident(update.state)
        values["sequence"] = "\(update.sequence)"
        values["reason"] = vocabulary.reason(
            update.reason, department: { departmentName($0, locale) }, contact: contactName)
        values["departments"] = update.departments.map { status -> [String: Any] in
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
        return values
    }

    /// The text of one notice of a batch, for one parcel, in its customer's locale.
    public func render(_ batch: NoticeBatch, parcel: Parcel, incident: IncidentState, at now: Timestamp) -> String {
        let locale = parcel.locale ?? plan.defaultLocale
        return render(batch.template, locale: locale, values(batch, parcel: parcel, incident: incident, at: now, locale: locale))
    }

    func values(_ batch: NoticeBatch, parcel: Parcel, incident: IncidentState, at now: Timestamp, locale: String)
        -> [String: Any]
    {
        var values = common(incident, locale: locale, at: now)
        values["kind"] = batch.kind.rawValue
        values["waybill"] = parcel.waybill
        values["customer_id"] = parcel.customerID
        return values
    }

    // MARK: Values

    private func common(_ incident: IncidentState, locale: String, at now: Timestamp) -> [String: Any] {
        var values: [String: Any] = [
            "plan": plan.name,
            "drill": incident.drill,
            "incident_id": incident.id.rawValue,
            "incident_key": incident.key,
            "type": document.names.incidentType(incident.type, locale: locale)
                ?? plan.incidentType(incident.type)?.name ?? incident.type.rawValue,
            "type_id": incident.type.rawValue,
            "severity": incident.severity.roman,
            "severity_name": document.names.severity(incident.severity, locale: locale)
                ?? plan.severityLevel(incident.severity)?.name ?? incident.severity.roman,
            "title": incident.title,
            "opened_at": time(incident.openedAt),
            "now": time(now),
            "state": Vocabulary(locale: locale).incident(incident.overallStatus),
            "affected": "\(incident.affectedParcels)",
        ]
        values["details"] = incident.details
        values["site"] = incident.site
        values["region"] = incident.region
        values["occurred_at"] = incident.occurredAt.map(time)
        values["eta"] = incident.eta.map(time)
        values["hotline"] = document.hotline
        values["support_email"] = document.supportEmail
        return values
    }

    private func render(_ template: TemplateID, locale: String, _ values: [String: Any]) -> String {
        guard let compiled = compiled[template]?[locale] ?? compiled[template]?[plan.defaultLocale] else { return "" }
        return compiled.render(values)
    }

    /// Renders and lists the variables the template asked for that had no value: tests use it
    /// to show a plan's templates never print a blank where a value belongs.
    func renderListingMissing(_ template: TemplateID, locale: String, _ values: [String: Any]) -> (String, [String]) {
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

/// Answers from a dictionary and notes every name asked for that had no value.
private final class MissingValueRecorder: MustacheParent {
    let values: [String: Any]
    var missing: [String] = []

    init(_ values: [String: Any]) { self.values = values }

    func child(named name: String) -> Any? {
        guard let value = values[name] else {
            if !missing.contains(name) { missing.append(name) }
            return nil
        }
        return value
    }
}
