/// A name from the plan file (`warehouse-fire`, `ops`, `lee-dispatch`) used as a typed key, so a
/// department id can never be passed where a contact id is expected.
public protocol PlanIdentifier: RawRepresentable, Hashable, Comparable, Codable, Sendable,
    ExpressibleByStringLiteral, CustomStringConvertible
where RawValue == String {
    init(rawValue: String)
}

extension PlanIdentifier {
    public init(_ rawValue: String) { self.init(rawValue: rawValue) }
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// An incident type of the plan: `vehicle-accident`, `warehouse-fire`, ...
public struct IncidentTypeID: PlanIdentifier {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// A department of the plan: `command-centre`, `operations`, `customer-service`, ...
public struct DepartmentID: PlanIdentifier {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// A person who can be paged.
public struct ContactID: PlanIdentifier {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// One incident, assigned when its first trigger is accepted. Ids of pages, notices and status
/// updates are derived from it, so it must not contain `:`-separated parts that look like them;
/// the worker uses a UUID-like token.
public struct IncidentID: PlanIdentifier {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// A message template of the plan, such as `page`, `status` or `notice.initial`.
public struct TemplateID: PlanIdentifier {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let page: TemplateID = "page"
    public static let status: TemplateID = "status"
    public static func notice(_ kind: NoticeKind) -> TemplateID { TemplateID("notice.\(kind.rawValue)") }
}
