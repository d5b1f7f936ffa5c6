public import CallTree

/// A plan file, loaded and checked: the `Plan` the state machine runs, plus what only the texts
/// need (names in each locale, templates, the customer hotline).
public struct PlanDocument: Sendable {
    /// The path the plan was read from, as given.
    public let file: String
    public let plan: Plan
    /// Every locale the plan writes texts in; customers and contacts use one of them.
    public let locales: [String]
    /// The offset from UTC in which times are written in texts, in seconds (`+08:00` is 28800).
    public let utcOffsetSeconds: Int
    /// Customer service line and mailbox quoted in customer notices (seed ch.6 §2).
    public let hotline: String?
    public let supportEmail: String?
    public let names: LocalizedNames
    /// Template texts by template and locale.
    public let templates: [TemplateID: [String: TemplateSource]]

    public init(
        file: String, plan: Plan, locales: [String], utcOffsetSeconds: Int = 0, hotline: String? = nil,
        supportEmail: String? = nil, names: LocalizedNames = LocalizedNames(),
        templates: [TemplateID: [String: TemplateSource]]
    ) {
        self.file = file
        self.plan = plan
        self.locales = locales
        self.utcOffsetSeconds = utcOffsetSeconds
        self.hotline = hotline
        self.supportEmail = supportEmail
        self.names = names
        self.templates = templates
    }

    /// The text of a template in a locale, falling back to the plan's default locale.
    public func template(_ id: TemplateID, locale: String) -> TemplateSource? {
        templates[id]?[locale] ?? templates[id]?[plan.defaultLocale]
    }
}

/// A template text and where it starts in the plan file.
public struct TemplateSource: Sendable, Hashable {
    public var text: String
    public var line: Int
    public var column: Int

    public init(text: String, line: Int, column: Int) {
        self.text = text
        self.line = line
        self.column = column
    }
}

/// A text the plan gives per locale, or once for all locales.
public struct LocalizedText: Sendable, Hashable {
    public var byLocale: [String: String]
    /// Used when a locale has no text of its own.
    public var fallback: String

    public init(_ text: String) {
        byLocale = [:]
        fallback = text
    }

    public init(byLocale: [String: String], fallback: String) {
        self.byLocale = byLocale
        self.fallback = fallback
    }

    public func text(for locale: String) -> String { byLocale[locale] ?? fallback }
}

/// Names and responsibilities in every locale of the plan; `Plan` carries those of the
/// default locale.
public struct LocalizedNames: Sendable {
    public var incidentTypes: [IncidentTypeID: LocalizedText] = [:]
    public var departments: [DepartmentID: LocalizedText] = [:]
    public var severities: [Severity: LocalizedText] = [:]
    public var responsibilities: [DepartmentID: [String: [String]]] = [:]

    public init() {}

    public func incidentType(_ id: IncidentTypeID, locale: String) -> String? {
        incidentTypes[id]?.text(for: locale)
    }

    public func department(_ id: DepartmentID, locale: String) -> String? {
        departments[id]?.text(for: locale)
    }

    public func severity(_ severity: Severity, locale: String) -> String? {
        severities[severity]?.text(for: locale)
    }

    public func responsibilities(_ id: DepartmentID, locale: String, defaultLocale: String) -> [String]? {
        responsibilities[id].flatMap { $0[locale] ?? $0[defaultLocale] ?? $0.values.first }
    }
}

/// Checks one template text when the plan is loaded: the renderer knows the variables, the
/// loader knows where the text is.
public protocol TemplateChecker: Sendable {
    /// What is wrong with the text; empty when it is fine.
    func issues(in text: String, template: TemplateID) -> [TemplateIssue]
}

public struct TemplateIssue: Sendable, Hashable {
    public var message: String
    /// A piece of the text to point at, such as `{{nmae}}`; the start of the text when nil or
    /// not found.
    public var near: String?
    /// A line within the text (counting from 1) to point at, when the checker knows it.
    public var lineInText: Int?

    public init(message: String, near: String? = nil, lineInText: Int? = nil) {
        self.message = message
        self.near = near
        self.lineInText = lineInText
    }
}
