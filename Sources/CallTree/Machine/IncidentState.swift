/// Everything the machine remembers about one incident between events. `Codable` and small
/// (parcels are counted, not kept: the store holds them), so a store persists it per event.
public struct IncidentState: Sendable, Hashable, Codable {
    public var id: IncidentID
    public var key: String
    public var type: IncidentTypeID
    public var severity: Severity
    public var title: String
    public var details: String?
    public var site: String?
    public var region: String?
    public var occurredAt: Timestamp?
    public var eta: Timestamp?
    public var drill: Bool
    public var openedAt: Timestamp
    public var resolution: Resolution?
    /// One branch per engaged department, in the order they were engaged.
    public var departments: [DepartmentBranch]
    /// The sequence number of the last status update published.
    public var statusSequence: Int
    /// The number of the current cadence due time; older ones are stale.
    public var cadenceNumber: Int
    public var affectedParcels: Int

    public var isResolved: Bool { resolution != nil }

    public func branch(_ department: DepartmentID) -> DepartmentBranch? {
        departments.first { $0.department == department }
    }

    /// The incident as the command centre sees it (status.v1 `state`): open while any
    /// department is still being paged, acknowledged when every one has answered, exhausted
    /// when paging has stopped with at least one department unreached.
    public var overallStatus: IncidentStatus {
        if isResolved { return .resolved }
        if departments.isEmpty { return .open }
        var anyExhausted = false
        for branch in departments {
            switch branch.progress {
            case .paging: return .open
            case .exhausted: anyExhausted = true
            case .acknowledged: break
            }
        }
        return anyExhausted ? .exhausted : .acknowledged
    }
}

public enum IncidentStatus: String, Sendable, Hashable, Codable {
    case open, acknowledged, exhausted, resolved
}

public struct Resolution: Sendable, Hashable, Codable {
    public var at: Timestamp
    public var by: Resolver
    public var note: String?
}

public enum Resolver: Sendable, Hashable, Codable, CustomStringConvertible {
    case upstream
    case contact(ContactID)

    public var description: String {
        switch self {
        case .upstream: "upstream"
        case .contact(let contact): "contact \(contact)"
        }
    }
}

/// Why a department was engaged.
public enum EngagementReason: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The activation rule of the incident's type and severity names it.
    case activation
    /// A severity raise made the rule name it.
    case severityRaised
    /// The department it backs up was exhausted.
    case fallback(from: DepartmentID)

    public var description: String {
        switch self {
        case .activation: "activation rule"
        case .severityRaised: "severity raised"
        case .fallback(let department): "fallback for \(department)"
        }
    }
}

/// One department's walk through its call order.
public struct DepartmentBranch: Sendable, Hashable, Codable {
    public var department: DepartmentID
    public var engagedAt: Timestamp
    public var reason: EngagementReason
    public var progress: Progress
    /// The furthest step paged so far: pages up to here may be answered.
    public var furthestPaged: StepPosition?
    public var firstPagedAt: Timestamp?

    public enum Progress: Sendable, Hashable, Codable {
        /// Paging the contacts of `position`; the step times out at `deadline`.
        case paging(StepPosition, deadline: Timestamp)
        case acknowledged(by: ContactID, at: Timestamp)
        case exhausted(at: Timestamp)
    }

    public var isPaging: Bool {
        if case .paging = progress { return true }
        return false
    }
}
