public import CallTree
import Foundation
import Yams

/// Reads `config/plan.yaml` into a `PlanDocument`, or every problem found in it.
public enum PlanLoader {
    /// Reads and checks the plan at `path`. `templates` checks each template text (the
    /// renderer's variables); without one, templates are only checked for presence.
    public static func load(
        contentsOf path: String, templates: (any TemplateChecker)? = nil
    ) throws(PlanProblems) -> PlanDocument {
        let source: String
        do {
            source = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PlanProblems([
                PlanProblem(
                    file: path, line: 1, column: 1,
                    message: "cannot read the plan file (\(error.localizedDescription)); check the path given with --plan")
            ])
        }
        return try parse(source, file: path, templates: templates)
    }

    /// Checks a plan given as text; `file` names it in problems.
    public static func parse(
        _ source: String, file: String, templates: (any TemplateChecker)? = nil
    ) throws(PlanProblems) -> PlanDocument {
        let root: Node?
        do {
            root = try Yams.compose(yaml: source)
        } catch {
            throw PlanProblems([syntaxProblem(error, file: file)])
        }
        guard let root else {
            throw PlanProblems([
                PlanProblem(file: file, line: 1, column: 1, message: "the plan file is empty; start from config/plan.yaml")
            ])
        }
        var builder = PlanBuilder(reader: YAMLReader(file: file, source: source), checker: templates)
        let document = builder.build(root)
        let problems = builder.reader.problems.sorted { ($0.line, $0.column) < ($1.line, $1.column) }
        guard problems.isEmpty, let document else { throw PlanProblems(problems) }
        return document
    }

    private static func syntaxProblem(_ error: any Error, file: String) -> PlanProblem {
        if let error = error as? YamlError {
            switch error {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
                .composer(let context, let problem, let mark, _):
                let while_ = context.map { " (\($0.text))" } ?? ""
                return PlanProblem(
                    file: file, line: mark.line, column: mark.column,
                    message: "YAML syntax: \(problem)\(while_); check indentation and quoting here")
            case .reader(let problem, _, _, _):
                return PlanProblem(file: file, line: 1, column: 1, message: "YAML syntax: \(problem); save the file as UTF-8")
            default:
                break
            }
        }
        return PlanProblem(file: file, line: 1, column: 1, message: "YAML syntax: \(error)")
    }
}

/// The template ids a plan can define, in the order they are documented.
public let knownTemplates: [TemplateID] = [.page, .status] + NoticeKind.allCases.map { .notice($0) }

/// Turns the YAML tree into plan types, reporting every problem on the way.
struct PlanBuilder {
    let reader: YAMLReader
    let checker: (any TemplateChecker)?

    // What the first pass found, for the checks across sections.
    private var locales: [String] = []
    private var defaultLocale = "en"
    private var severityKeys: [Severity: Mark?] = [:]
    private var contactMarks: [ContactID: Mark?] = [:]
    private var departmentMarks: [DepartmentID: Mark?] = [:]
    private var departmentsWithoutOrder: Set<DepartmentID> = []
    private var checkContactReferences = true
    private var checkDepartmentReferences = true

    init(reader: YAMLReader, checker: (any TemplateChecker)?) {
        self.reader = reader
        self.checker = checker
    }

    static let topLevelKeys = ["plan", "defaults", "severities", "contacts", "departments", "incident_types", "templates"]

    mutating func build(_ root: Node) -> PlanDocument? {
        guard let top = reader.entries(root, in: "the plan file", allowed: Self.topLevelKeys, allowExtensions: true)
        else { return nil }
        let section = Dictionary(top.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let writtenKeys = root.mapping?.keys.compactMap(\.string) ?? []
        for key in Self.topLevelKeys where key != "defaults" && section[key] == nil {
            // A misspelt section is reported as an unknown key, with the right name.
            guard !writtenKeys.contains(where: { closest(to: $0, among: [key]) != nil }) else { continue }
            reader.report(line: 1, column: 1, "the plan file has no '\(key):' section; add it (see config/README.md)")
        }
        // Without the section, every reference to it would be reported: one problem is enough.
        checkContactReferences = section["contacts"] != nil
        checkDepartmentReferences = section["departments"] != nil

        let header = section["plan"].flatMap { readHeader($0.value) }
        let defaults = section["defaults"].map { readDefaults($0.value) } ?? Defaults()
        let severities = section["severities"].map { readSeverities($0.value) } ?? []
        let contacts = section["contacts"].map { readContacts($0.value) } ?? []
        // Departments first without references, so types and fallbacks can be checked against them.
        let departmentEntries = section["departments"].flatMap {
            reader.entries($0.value, in: "departments")
        } ?? []
        for entry in departmentEntries where reader.checkID(entry.key, entry.keyMark, "department") {
            departmentMarks[DepartmentID(entry.key)] = entry.keyMark
        }
        var names = LocalizedNames()
        let departments = departmentEntries.compactMap { readDepartment($0, defaults: defaults, names: &names) }
        checkFallbackCycles(departments)
        for department in departments {
            guard let fallback = department.callOrder.fallback, departmentsWithoutOrder.contains(fallback) else { continue }
            reader.report(
                fallbackMarks[department.id] ?? nil,
                "department '\(fallback)' is the fallback of department '\(department.id)' but has no call_order; add call_order: with at least one step to departments.\(fallback)"
            )
        }
        let types = section["incident_types"].map { readIncidentTypes($0.value, names: &names) } ?? []
        for level in severities {
            names.severities[level.0.severity] = level.1
        }
        let usedNotices = Set(types.flatMap { $0.rules.values.flatMap(\.notices) })
        let templates = section["templates"].map {
            readTemplates($0.value, contacts: contacts, usedNotices: usedNotices)
        } ?? [:]

        guard let header else { return nil }
        let plan = Plan(
            name: header.name, defaultLocale: header.defaultLocale, severities: severities.map(\.0),
            incidentTypes: types, departments: departments, contacts: contacts)
        return PlanDocument(
            file: reader.file, plan: plan, locales: header.locales, utcOffsetSeconds: header.utcOffset,
            hotline: header.hotline, supportEmail: header.supportEmail, names: names, templates: templates)
    }

    // MARK: plan:

    struct Header {
        var name: String
        var defaultLocale: String
        var locales: [String]
        var utcOffset: Int
        var hotline: String?
        var supportEmail: String?
    }

    private mutating func readHeader(_ node: Node) -> Header? {
        let allowed = ["name", "default_locale", "locales", "utc_offset", "hotline", "support_email"]
        guard let field = reader.fields(node, in: "plan", allowed: allowed) else { return nil }
        for key in ["name", "default_locale", "locales"] where field[key] == nil {
            reader.report(node.mark, "plan has no '\(key)'; add it")
        }
        let name = field["name"].flatMap { reader.nonEmptyString($0.value, "plan name") }
        locales = field["locales"].flatMap { reader.list($0.value, "plan locales") }?
            .compactMap { reader.nonEmptyString($0, "a locale") } ?? []
        if let localesEntry = field["locales"], locales.isEmpty {
            reader.report(localesEntry.value.mark, "plan locales is empty; list the locales texts are written in, such as [zh-Hant, en]")
        }
        let defaultLocale = field["default_locale"].flatMap { entry -> String? in
            guard let locale = reader.nonEmptyString(entry.value, "default_locale") else { return nil }
            if !locales.isEmpty, !locales.contains(locale) {
                reader.report(
                    entry.value.mark,
                    "default_locale '\(locale)' is not one of the plan locales (\(locales.joined(separator: ", "))); add it to locales or pick one of them"
                )
            }
            return locale
        }
        if let defaultLocale { self.defaultLocale = defaultLocale }
        var offset = 0
        if let entry = field["utc_offset"], let text = reader.string(entry.value, "utc_offset") {
            if let seconds = Self.utcOffset(text) {
                offset = seconds
            } else {
                reader.report(entry.value.mark, "utc_offset '\(text)' must be written like +08:00 or -05:00")
            }
        }
        let hotline = field["hotline"].flatMap { reader.nonEmptyString($0.value, "hotline") }
        let email = field["support_email"].flatMap { reader.nonEmptyString($0.value, "support_email") }
        guard let name, let defaultLocale else { return nil }
        return Header(
            name: name, defaultLocale: defaultLocale, locales: locales, utcOffset: offset, hotline: hotline,
            supportEmail: email)
    }

    static func utcOffset(_ text: String) -> Int? {
        let scalars = Array(text)
        guard scalars.count == 6, scalars[0] == "+" || scalars[0] == "-", scalars[3] == ":",
            let hours = Int(String(scalars[1...2])), let minutes = Int(String(scalars[4...5])),
            hours <= 14, minutes < 60
        else { return nil }
        return (scalars[0] == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
    }

    // MARK: defaults:

    struct Defaults {
        var timeout: Duration?
        var rounds: Int?
        var fallback: (DepartmentID, Mark?)?
    }

    private mutating func readDefaults(_ node: Node) -> Defaults {
        var defaults = Defaults()
        guard let entries = reader.entries(node, in: "defaults", allowed: ["timeout", "rounds", "fallback"]) else {
            return defaults
        }
        for entry in entries {
            switch entry.key {
            case "timeout": defaults.timeout = reader.duration(entry.value, "the default timeout")
            case "rounds": defaults.rounds = reader.positiveInt(entry.value, "the default rounds")
            case "fallback":
                if let id = reader.string(entry.value, "the default fallback") {
                    defaults.fallback = (DepartmentID(id), entry.value.mark)
                }
            default: break
            }
        }
        return defaults
    }

    // MARK: severities:

    static let severityKeys: [String: Severity] = ["I": .critical, "II": .major, "III": .serious, "IV": .general]

    private mutating func readSeverities(_ node: Node) -> [(SeverityLevel, LocalizedText)] {
        guard let entries = reader.entries(node, in: "severities") else { return [] }
        var result: [(SeverityLevel, LocalizedText)] = []
        for entry in entries {
            guard let severity = Self.severityKeys[entry.key] else {
                reader.report(entry.keyMark, "unknown severity '\(entry.key)'; severities are I (most severe), II, III and IV")
                continue
            }
            severityKeys[severity] = entry.keyMark
            guard let field = reader.fields(entry.value, in: "severity \(entry.key)", allowed: ["name", "status_every"])
            else { continue }
            guard let nameEntry = field["name"] else {
                reader.report(entry.keyMark, "severity \(entry.key) has no name; add name: 特別重大 (or a name per locale)")
                continue
            }
            guard let name = localizedText(nameEntry.value, "the name of severity \(entry.key)") else { continue }
            var cadence: Duration?
            if let every = field["status_every"], !isNone(every.value) {
                cadence = reader.duration(every.value, "status_every of severity \(entry.key)")
            }
            result.append((SeverityLevel(severity, name: name.text(for: defaultLocale), statusCadence: cadence), name))
        }
        return result.sorted { $0.0.severity < $1.0.severity }
    }

    private func isNone(_ node: Node) -> Bool {
        if case .scalar(let scalar) = node, scalar.style == .plain, scalar.string == "none" { return true }
        return false
    }

    // MARK: contacts:

    private mutating func readContacts(_ node: Node) -> [Contact] {
        guard let entries = reader.entries(node, in: "contacts") else { return [] }
        var contacts: [Contact] = []
        for entry in entries {
            guard reader.checkID(entry.key, entry.keyMark, "contact") else { continue }
            let id = ContactID(entry.key)
            contactMarks[id] = entry.keyMark
            let what = "contact '\(entry.key)'"
            guard let field = reader.fields(entry.value, in: what, allowed: ["name", "locale", "may_resolve", "channels"])
            else { continue }
            let name = field["name"].flatMap { reader.nonEmptyString($0.value, "the name of \(what)") }
            if field["name"] == nil { reader.report(entry.keyMark, "\(what) has no name; add name:") }
            let locale = field["locale"].flatMap { reader.nonEmptyString($0.value, "the locale of \(what)") }
            let mayResolve = field["may_resolve"].flatMap { reader.bool($0.value, "may_resolve of \(what)") } ?? false
            var channels: [ContactChannel] = []
            if let channelsEntry = field["channels"] {
                channels = readChannels(channelsEntry.value, of: what)
            } else {
                reader.report(entry.keyMark, "\(what) has no channels; add channels: [{phone: \"+852 ...\"}] in order of preference")
            }
            guard let name else { continue }
            contacts.append(Contact(id: id, name: name, channels: channels, locale: locale, mayResolve: mayResolve))
        }
        return contacts
    }

    private func readChannels(_ node: Node, of what: String) -> [ContactChannel] {
        guard let items = reader.list(node, "the channels of \(what)") else { return [] }
        if items.isEmpty {
            reader.report(node.mark, "\(what) has no channels; list at least one, such as - phone: \"+852 ...\"")
        }
        var channels: [ContactChannel] = []
        let kinds = Channel.allCases.map(\.rawValue)
        for item in items {
            guard let fields = reader.entries(item, in: "a channel of \(what)") else { continue }
            guard fields.count == 1, let field = fields.first else {
                reader.report(item.mark, "each channel of \(what) is one `kind: address` line, such as - sms: \"+852 ...\"")
                continue
            }
            guard let channel = Channel(rawValue: field.key) else {
                reader.report(field.keyMark, reader.unknownKeyMessage(field.key, in: "the channels of \(what)", allowed: kinds))
                continue
            }
            guard !reader.isNull(field.value), case .scalar(let scalar) = field.value,
                !scalar.string.trimmingCharacters(in: " ").isEmpty
            else {
                reader.report(
                    field.keyMark,
                    "\(field.key) channel of \(what) has no address; write the \(Self.addressExample(channel)) after '\(field.key):' or remove the line"
                )
                continue
            }
            channels.append(ContactChannel(channel, scalar.string))
        }
        return channels
    }

    private static func addressExample(_ channel: Channel) -> String {
        switch channel {
        case .phone, .sms: "number (\"+852 5550 0101\")"
        case .email: "address (name@example.com)"
        case .im: "handle"
        }
    }

    // MARK: departments:

    private mutating func readDepartment(
        _ entry: YAMLReader.Entry, defaults: Defaults, names: inout LocalizedNames
    ) -> DepartmentPlan? {
        guard reader.isValidID(entry.key) else { return nil }
        let id = DepartmentID(entry.key)
        let what = "department '\(entry.key)'"
        let allowed = ["name", "responsibilities", "call_order", "rounds", "fallback"]
        guard let field = reader.fields(entry.value, in: what, allowed: allowed) else { return nil }
        let name = requiredName(field, of: entry, what)
        if let name { names.departments[id] = name }
        var responsibilities: [String] = []
        if let entry = field["responsibilities"], let byLocale = localizedList(entry.value, "responsibilities of \(what)") {
            names.responsibilities[id] = byLocale
            responsibilities = byLocale[defaultLocale] ?? byLocale.values.first ?? []
        }
        var steps: [CallStep] = []
        if let order = field["call_order"] {
            steps = readSteps(order.value, of: what, defaultTimeout: defaults.timeout)
            if case .sequence(let sequence) = order.value, sequence.isEmpty {
                reader.report(order.value.mark, "the call_order of \(what) is empty; list at least one step of contacts")
            }
        } else {
            // Steps written but refused are reported where they are; only a missing order is
            // reported where the department is engaged.
            departmentsWithoutOrder.insert(id)
        }
        let rounds = field["rounds"].flatMap { reader.positiveInt($0.value, "rounds of \(what)") } ?? defaults.rounds ?? 1
        var fallback: DepartmentID?
        if let entry = field["fallback"] {
            if !isNone(entry.value), let text = reader.string(entry.value, "the fallback of \(what)") {
                fallback = checkedDepartment(text, entry.value.mark, "the fallback of \(what)")
                if fallback == id {
                    reader.report(entry.value.mark, "\(what) falls back to itself; name another department or write fallback: none")
                    fallback = nil
                }
            }
        } else if let (defaultFallback, mark) = defaults.fallback, defaultFallback != id {
            fallback = checkedDepartment(defaultFallback.rawValue, mark, "the default fallback")
        }
        if fallback != nil {
            fallbackMarks[id] = field["fallback"].map { $0.value.mark } ?? defaults.fallback.flatMap { $0.1 }
        }
        return DepartmentPlan(
            id: id, name: name?.text(for: defaultLocale) ?? entry.key, responsibilities: responsibilities,
            callOrder: CallOrder(steps: steps, rounds: rounds, fallback: fallback))
    }

    private var fallbackMarks: [DepartmentID: Mark?] = [:]
    private var reportedDefaultFallback = false

    private mutating func checkedDepartment(_ text: String, _ mark: Mark?, _ what: String) -> DepartmentID? {
        let id = DepartmentID(text)
        guard departmentMarks[id] != nil || !checkDepartmentReferences else {
            if what == "the default fallback" {
                if reportedDefaultFallback { return nil }
                reportedDefaultFallback = true
            }
            reader.report(mark, unknownReference("department", text, in: what, known: departmentMarks.keys.map(\.rawValue), section: "departments"))
            return nil
        }
        return id
    }

    private func unknownReference(_ kind: String, _ text: String, in what: String, known: [String], section: String) -> String {
        if let suggestion = closest(to: text, among: known) {
            return "unknown \(kind) '\(text)' in \(what); did you mean '\(suggestion)'?"
        }
        return "unknown \(kind) '\(text)' in \(what); define it under \(section): or fix the id"
    }

    private func readSteps(_ node: Node, of what: String, defaultTimeout: Duration?) -> [CallStep] {
        guard let items = reader.list(node, "the call_order of \(what)") else { return [] }
        var steps: [CallStep] = []
        for (offset, item) in items.enumerated() {
            let stepName = "step \(offset + 1) of \(what)"
            var contactsNode: Node?
            var timeout = defaultTimeout
            var timeoutGiven = false
            switch item {
            case .mapping:
                guard let field = reader.fields(item, in: "\(stepName)", allowed: ["contacts", "timeout"]) else { continue }
                contactsNode = field["contacts"]?.value
                if contactsNode == nil {
                    reader.report(item.mark, "\(stepName) names no contacts; add contacts: [contact-id, ...]")
                    continue
                }
                if let timeoutNode = field["timeout"]?.value {
                    timeoutGiven = true
                    timeout = reader.duration(timeoutNode, "the timeout of \(stepName)")
                }
            default:
                contactsNode = item
            }
            guard let contactsNode, let contactNodes = reader.list(contactsNode, "the contacts of \(stepName)", allowSingle: true)
            else { continue }
            if contactNodes.isEmpty {
                reader.report(contactsNode.mark, "\(stepName) is empty; name at least one contact or remove the step")
                continue
            }
            var contacts: [ContactID] = []
            for contactNode in contactNodes {
                guard let text = reader.string(contactNode, "a contact of \(stepName)") else { continue }
                let id = ContactID(text)
                guard contactMarks[id] != nil || !checkContactReferences else {
                    reader.report(
                        contactNode.mark,
                        unknownReference("contact", text, in: stepName, known: contactMarks.keys.map(\.rawValue), section: "contacts"))
                    continue
                }
                contacts.append(id)
            }
            if timeout == nil, !timeoutGiven {
                reader.report(item.mark, "\(stepName) has no timeout; add timeout: 5m to the step or a default under defaults:")
            }
            guard let timeout, !contacts.isEmpty else { continue }
            steps.append(CallStep(contacts: contacts, timeout: timeout))
        }
        return steps
    }

    /// A department reached again by following fallbacks from itself would page in a circle
    /// forever; one department of the cycle must have no fallback.
    private func checkFallbackCycles(_ departments: [DepartmentPlan]) {
        let fallback = Dictionary(departments.compactMap { plan in plan.callOrder.fallback.map { (plan.id, $0) } },
            uniquingKeysWith: { first, _ in first })
        var reported = Set<DepartmentID>()
        for department in departments {
            var path = [department.id]
            var current = department.id
            while let next = fallback[current] {
                if next == department.id {
                    // Report each cycle once, at its first department in file order.
                    if reported.isDisjoint(with: path) {
                        reported.formUnion(path)
                        let cycle = (path + [next]).map(\.rawValue).joined(separator: " → ")
                        reader.report(
                            (fallbackMarks[department.id] ?? nil) ?? (departmentMarks[department.id] ?? nil),
                            "fallback cycle \(cycle): paging would never end; give one of them fallback: none (usually command-centre)"
                        )
                    }
                    break
                }
                if path.contains(next) { break }  // a cycle further on, reported from its own members
                path.append(next)
                current = next
            }
        }
    }

    // MARK: incident_types:

    private mutating func readIncidentTypes(_ node: Node, names: inout LocalizedNames) -> [IncidentType] {
        guard let entries = reader.entries(node, in: "incident_types") else { return [] }
        var types: [IncidentType] = []
        for entry in entries {
            guard reader.checkID(entry.key, entry.keyMark, "incident type") else { continue }
            let id = IncidentTypeID(entry.key)
            let what = "incident type '\(entry.key)'"
            guard let field = reader.fields(entry.value, in: what, allowed: ["name", "severities"]) else { continue }
            let name = requiredName(field, of: entry, what)
            if let name { names.incidentTypes[id] = name }
            var rules: [Severity: ActivationRule] = [:]
            if let severitiesEntry = field["severities"],
                let ruleEntries = reader.entries(severitiesEntry.value, in: "the severities of \(what)")
            {
                for ruleEntry in ruleEntries {
                    guard let severity = Self.severityKeys[ruleEntry.key], severityKeys[severity] != nil else {
                        let defined = severityKeys.keys.sorted().map(\.roman).joined(separator: ", ")
                        reader.report(
                            ruleEntry.keyMark,
                            "unknown severity '\(ruleEntry.key)' in \(what); use one defined under severities: (\(defined))")
                        continue
                    }
                    if let rule = readRule(ruleEntry.value, "severity \(ruleEntry.key) of \(what)") {
                        rules[severity] = rule
                    }
                }
                for (severity, _) in severityKeys.sorted(by: { $0.key < $1.key })
                where !ruleEntries.contains(where: { $0.key == severity.roman }) {
                    reader.report(
                        severitiesEntry.keyMark,
                        "\(what) has no rule for severity \(severity.roman); add \(severity.roman): {departments: [...]} (an empty list opens the incident without paging)"
                    )
                }
            } else if field["severities"] == nil {
                reader.report(entry.keyMark, "\(what) has no severities; add a rule for each of I, II, III and IV")
            }
            types.append(IncidentType(id: id, name: name?.text(for: defaultLocale) ?? entry.key, rules: rules))
        }
        return types
    }

    private mutating func readRule(_ node: Node, _ what: String) -> ActivationRule? {
        guard let field = reader.fields(node, in: what, allowed: ["departments", "notices"]) else { return nil }
        var departments: [DepartmentID] = []
        if let entry = field["departments"], let items = reader.list(entry.value, "the departments of \(what)") {
            for item in items {
                guard let text = reader.string(item, "a department of \(what)"),
                    let id = checkedDepartment(text, item.mark, what)
                else { continue }
                if departmentsWithoutOrder.contains(id) {
                    reader.report(
                        item.mark,
                        "department '\(id)' is engaged by \(what) but has no call_order; add call_order: with at least one step to departments.\(id)"
                    )
                }
                if departments.contains(id) {
                    reader.report(item.mark, "department '\(id)' is listed twice in \(what); remove one")
                    continue
                }
                departments.append(id)
            }
        } else if field["departments"] == nil {
            reader.report(node.mark, "\(what) has no departments; add departments: [...] (an empty list opens the incident without paging)")
        }
        var notices: Set<NoticeKind> = []
        if let entry = field["notices"], let items = reader.list(entry.value, "the notices of \(what)") {
            let kinds = NoticeKind.allCases.map(\.rawValue)
            for item in items {
                guard let text = reader.string(item, "a notice of \(what)") else { continue }
                guard let kind = NoticeKind(rawValue: text) else {
                    let hint = closest(to: text, among: kinds).map { "did you mean '\($0)'? " } ?? ""
                    reader.report(item.mark, "unknown notice '\(text)' in \(what); \(hint)notices are \(kinds.joined(separator: ", "))")
                    continue
                }
                notices.insert(kind)
            }
        }
        return ActivationRule(departments: departments, notices: notices)
    }

    // MARK: templates:

    private func readTemplates(
        _ node: Node, contacts: [Contact], usedNotices: Set<NoticeKind>
    ) -> [TemplateID: [String: TemplateSource]] {
        guard let entries = reader.entries(node, in: "templates") else { return [:] }
        var templates: [TemplateID: [String: TemplateSource]] = [:]
        let known = knownTemplates.map(\.rawValue)
        var pageReaders: [String: ContactID] = [:]
        for contact in contacts where pageReaders[contact.locale ?? defaultLocale] == nil {
            pageReaders[contact.locale ?? defaultLocale] = contact.id
        }
        for entry in entries {
            guard known.contains(entry.key) else {
                reader.report(entry.keyMark, reader.unknownKeyMessage(entry.key, in: "templates", allowed: known))
                continue
            }
            let id = TemplateID(entry.key)
            guard let texts = reader.entries(entry.value, in: "template '\(entry.key)'") else { continue }
            var byLocale: [String: TemplateSource] = [:]
            for text in texts {
                if !locales.isEmpty, !locales.contains(text.key), !pageReaders.keys.contains(text.key) {
                    reader.report(
                        text.keyMark,
                        "template '\(entry.key)' has a text for '\(text.key)', which is not one of the plan locales (\(locales.joined(separator: ", "))); fix the locale or add it to plan locales"
                    )
                    continue
                }
                guard let body = reader.nonEmptyString(text.value, "template '\(entry.key)' in \(text.key)") else { continue }
                let mark = text.value.mark
                byLocale[text.key] = TemplateSource(text: body, line: mark?.line ?? 1, column: mark?.column ?? 1)
                for issue in checker?.issues(in: body, template: id) ?? [] {
                    let position = reader.position(of: issue.near ?? "", from: mark, lineInText: issue.lineInText)
                    reader.report(
                        line: position.line, column: position.column,
                        "template '\(entry.key)' (\(text.key)): \(issue.message)")
                }
            }
            var required = locales
            if id == .page {
                for (locale, _) in pageReaders.sorted(by: { $0.key < $1.key }) where !required.contains(locale) {
                    required.append(locale)
                }
            }
            for locale in required where byLocale[locale] == nil && !texts.contains(where: { $0.key == locale }) {
                let who = id == .page ? pageReaders[locale].map { ", which contact '\($0)' reads" } ?? "" : ""
                reader.report(
                    entry.keyMark,
                    "template '\(entry.key)' has no text for locale '\(locale)'\(who); add a '\(locale):' text")
            }
            templates[id] = byLocale
        }
        var required: [TemplateID] = [.page, .status]
        required += NoticeKind.allCases.filter(usedNotices.contains).map { .notice($0) }
        for id in required where !entries.contains(where: { $0.key == id.rawValue || closest(to: $0.key, among: [id.rawValue]) != nil }) {
            reader.report(
                node.mark,
                "templates has no '\(id)'; add it with a text for each locale (\(locales.joined(separator: ", ")))")
        }
        return templates
    }

    // MARK: Localized values

    /// The `name:` of an entry, which must be there.
    private func requiredName(_ field: [String: YAMLReader.Entry], of entry: YAMLReader.Entry, _ what: String) -> LocalizedText? {
        guard let nameEntry = field["name"] else {
            reader.report(entry.keyMark, "\(what) has no name; add name:")
            return nil
        }
        return localizedText(nameEntry.value, "the name of \(what)")
    }

    /// A text, or a mapping from locale to text.
    private func localizedText(_ node: Node, _ what: String) -> LocalizedText? {
        if case .mapping = node {
            guard let entries = reader.entries(node, in: what) else { return nil }
            var byLocale: [String: String] = [:]
            for entry in entries {
                guard checkLocale(entry.key, entry.keyMark, what) else { continue }
                if let text = reader.nonEmptyString(entry.value, "\(what) in \(entry.key)") { byLocale[entry.key] = text }
            }
            guard let fallback = byLocale[defaultLocale] else {
                reader.report(node.mark, "\(what) has no '\(defaultLocale)' text (the default locale); add one")
                return nil
            }
            return LocalizedText(byLocale: byLocale, fallback: fallback)
        }
        return reader.nonEmptyString(node, what).map(LocalizedText.init)
    }

    /// A list of texts, or a mapping from locale to list.
    private func localizedList(_ node: Node, _ what: String) -> [String: [String]]? {
        if case .mapping = node {
            guard let entries = reader.entries(node, in: what) else { return nil }
            var byLocale: [String: [String]] = [:]
            for entry in entries where checkLocale(entry.key, entry.keyMark, what) {
                byLocale[entry.key] = reader.list(entry.value, "\(what) in \(entry.key)")?
                    .compactMap { reader.nonEmptyString($0, "a responsibility") }
            }
            if byLocale[defaultLocale] == nil {
                reader.report(node.mark, "\(what) has no '\(defaultLocale)' list (the default locale); add one")
            }
            return byLocale
        }
        guard let items = reader.list(node, what) else { return nil }
        return [defaultLocale: items.compactMap { reader.nonEmptyString($0, "a responsibility") }]
    }

    private func checkLocale(_ locale: String, _ mark: Mark?, _ what: String) -> Bool {
        guard locales.isEmpty || locales.contains(locale) else {
            let hint = closest(to: locale, among: locales).map { "did you mean '\($0)'? " } ?? ""
            reader.report(mark, "unknown locale '\(locale)' in \(what); \(hint)the plan locales are \(locales.joined(separator: ", "))")
            return false
        }
        return true
    }
}
