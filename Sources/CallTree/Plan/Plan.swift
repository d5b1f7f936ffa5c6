/// The emergency plan: what each kind of incident engages at each severity, and how each
/// department is reached. Built by the plan loader from `config/plan.yaml`, or directly in tests.
///
/// The plan is immutable once built; lookups by id go through indexes made in `init`. It is a
/// class so that handing it to every transition costs one reference, not a copy of its tables.
public final class Plan: Sendable {
    public let name: String
    /// Locale used for a parcel or contact that names none (`zh-Hant`, `zh-Hans`, `en`).
    public let defaultLocale: String
    public let severities: [SeverityLevel]
    public let incidentTypes: [IncidentType]
    public let departments: [DepartmentPlan]
    public let contacts: [Contact]

    private let severityIndex: [Severity: Int]
    private let incidentTypeIndex: [IncidentTypeID: Int]
    private let departmentIndex: [DepartmentID: Int]
    private let contactIndex: [ContactID: Int]

    public init(
        name: String = "plan",
        defaultLocale: String = "en",
        severities: [SeverityLevel],
        incidentTypes: [IncidentType],
        departments: [DepartmentPlan],
        contacts: [Contact]
    ) {
        self.name = name
        self.defaultLocale = defaultLocale
        self.severities = severities
        self.incidentTypes = incidentTypes
        self.departments = departments
        self.contacts = contacts
        // Later duplicates are a validation error of the loader; here the first one wins.
        severityIndex = Self.index(severities, by: \.severity)
        incidentTypeIndex = Self.index(incidentTypes, by: \.id)
        departmentIndex = Self.index(departments, by: \.id)
        contactIndex = Self.index(contacts, by: \.id)
    }

    public func severityLevel(_ severity: Severity) -> SeverityLevel? {
        severityIndex[severity].map { severities[$0] }
    }

    public func incidentType(_ id: IncidentTypeID) -> IncidentType? {
        incidentTypeIndex[id].map { incidentTypes[$0] }
    }

    public func department(_ id: DepartmentID) -> DepartmentPlan? {
        departmentIndex[id].map { departments[$0] }
    }

    /// The call order alone: cheaper than the whole department on the paging path.
    public func callOrder(of id: DepartmentID) -> CallOrder? {
        departmentIndex[id].map { departments[$0].callOrder }
    }

    public func contact(_ id: ContactID) -> Contact? {
        contactIndex[id].map { contacts[$0] }
    }

    /// The activation rule for a type at a severity; nil when the plan engages nobody.
    public func rule(for type: IncidentTypeID, at severity: Severity) -> ActivationRule? {
        incidentType(type)?.rules[severity]
    }

    private static func index<Element, Key: Hashable>(
        _ elements: [Element], by key: KeyPath<Element, Key>
    ) -> [Key: Int] {
        var index: [Key: Int] = [:]
        for (offset, element) in elements.enumerated() where index[element[keyPath: key]] == nil {
            index[element[keyPath: key]] = offset
        }
        return index
    }
}

/// Severity levels of the plan (seed ch.2 §3): I is the most severe.
public enum Severity: Int, Sendable, Hashable, Comparable, Codable, CaseIterable, CustomStringConvertible {
    /// I 特別重大
    case critical = 1
    /// II 重大
    case major = 2
    /// III 較大
    case serious = 3
    /// IV 一般
    case general = 4

    /// More severe sorts first: `.critical < .general`.
    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rawValue < rhs.rawValue }

    public var roman: String { ["I", "II", "III", "IV"][rawValue - 1] }
    public var description: String { roman }
}

public struct SeverityLevel: Sendable, Hashable {
    public var severity: Severity
    /// The plan's name for the level, such as 特別重大.
    public var name: String
    /// How often the command centre gets a progress status update while the incident is open;
    /// nil for none.
    public var statusCadence: Duration?

    public init(_ severity: Severity, name: String, statusCadence: Duration? = nil) {
        self.severity = severity
        self.name = name
        self.statusCadence = statusCadence
    }
}

/// Customer notices (seed ch.3 §4, ch.6): one per affected parcel and kind.
public enum NoticeKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Sent when a parcel is first known to be affected.
    case initial
    /// Sent on each status cadence while the incident is open.
    case progress
    /// Sent when the incident is resolved.
    case resolved
    /// Sent when the incident is resolved, offering compensation (seed ch.4, ch.9 §1).
    case compensation
}

public struct IncidentType: Sendable, Hashable {
    public var id: IncidentTypeID
    public var name: String
    /// Which departments and notices each severity activates. A severity without a rule opens
    /// the incident and pages nobody.
    public var rules: [Severity: ActivationRule]

    public init(id: IncidentTypeID, name: String, rules: [Severity: ActivationRule]) {
        self.id = id
        self.name = name
        self.rules = rules
    }
}

public struct ActivationRule: Sendable, Hashable {
    /// Engaged in parallel, each walking its own call order.
    public var departments: [DepartmentID]
    public var notices: Set<NoticeKind>

    public init(departments: [DepartmentID], notices: Set<NoticeKind> = []) {
        self.departments = departments
        self.notices = notices
    }
}

/// A department and how it is reached (seed ch.2 §6, ch.9).
public struct DepartmentPlan: Sendable, Hashable {
    public var id: DepartmentID
    public var name: String
    /// What the department must do, quoted in its pages.
    public var responsibilities: [String]
    public var callOrder: CallOrder

    public init(id: DepartmentID, name: String, responsibilities: [String] = [], callOrder: CallOrder) {
        self.id = id
        self.name = name
        self.responsibilities = responsibilities
        self.callOrder = callOrder
    }
}

public struct CallOrder: Sendable, Hashable {
    public var steps: [CallStep]
    /// How many times the whole order is walked before the department is exhausted; at least 1.
    public var rounds: Int
    /// The department paged when this one is exhausted, typically the command centre.
    public var fallback: DepartmentID?

    public init(steps: [CallStep], rounds: Int = 1, fallback: DepartmentID? = nil) {
        self.steps = steps
        self.rounds = rounds
        self.fallback = fallback
    }

    /// Every contact named in any step, in call order, without repeats.
    public var contacts: [ContactID] {
        var seen = Set<ContactID>()
        return steps.flatMap(\.contacts).filter { seen.insert($0).inserted }
    }

    func contains(_ contact: ContactID) -> Bool {
        steps.contains { $0.contacts.contains(contact) }
    }
}

/// One step of a call order: its contacts are paged together, then the step waits.
public struct CallStep: Sendable, Hashable {
    public var contacts: [ContactID]
    public var timeout: Duration

    public init(contacts: [ContactID], timeout: Duration) {
        self.contacts = contacts
        self.timeout = timeout
    }
}

public enum Channel: String, Sendable, Hashable, Codable, CaseIterable {
    case phone, sms, email, im
}

public struct ContactChannel: Sendable, Hashable {
    public var channel: Channel
    public var address: String

    public init(_ channel: Channel, _ address: String) {
        self.channel = channel
        self.address = address
    }
}

public struct Contact: Sendable, Hashable {
    public var id: ContactID
    public var name: String
    /// In order of preference: round 1 uses the first, each later round the next, wrapping.
    public var channels: [ContactChannel]
    public var locale: String?
    /// Whether a `resolve` reply from this contact closes the incident.
    public var mayResolve: Bool

    public init(
        id: ContactID, name: String, channels: [ContactChannel], locale: String? = nil, mayResolve: Bool = false
    ) {
        self.id = id
        self.name = name
        self.channels = channels
        self.locale = locale
        self.mayResolve = mayResolve
    }

    /// The channel used for a page in the given round (1-based).
    public func channel(forRound round: Int) -> ContactChannel? {
        channels.isEmpty ? nil : channels[(round - 1) % channels.count]
    }
}
