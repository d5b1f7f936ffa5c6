/// The position of a page in a department's call order; both count from 1.
public struct StepPosition: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var round: Int
    public var step: Int

    public init(round: Int, step: Int) {
        self.round = round
        self.step = step
    }

    public static func < (lhs: StepPosition, rhs: StepPosition) -> Bool {
        (lhs.round, lhs.step) < (rhs.round, rhs.step)
    }

    public var description: String { "round \(round) step \(step)" }
}

/// Identifies one page: derived from what it is, never invented, so a retried publish repeats
/// the same id. Written as `page:<incident>:<department>:<round>:<step>:<contact>`.
public struct PageID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var incident: IncidentID
    public var department: DepartmentID
    public var position: StepPosition
    public var contact: ContactID

    public init(incident: IncidentID, department: DepartmentID, position: StepPosition, contact: ContactID) {
        self.incident = incident
        self.department = department
        self.position = position
        self.contact = contact
    }

    /// Parses the written form; nil when it is not a page id.
    public init?(_ text: String) {
        // Read from the right: plan ids have no `:`, so whatever is left is the incident id.
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 6, parts[0] == "page",
            let round = Int(parts[parts.count - 3]), let step = Int(parts[parts.count - 2]),
            round >= 1, step >= 1
        else { return nil }
        let incident = parts[1..<(parts.count - 4)].joined(separator: ":")
        let department = parts[parts.count - 4]
        let contact = parts[parts.count - 1]
        guard !incident.isEmpty, !department.isEmpty, !contact.isEmpty else { return nil }
        self.init(
            incident: IncidentID(incident), department: DepartmentID(String(department)),
            position: StepPosition(round: round, step: step), contact: ContactID(String(contact)))
    }

    public var description: String {
        "page:\(incident):\(department):\(position.round):\(position.step):\(contact)"
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = PageID(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a page id: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A due time the machine asks the caller to keep and feed back as `.dueTimeReached`.
public enum DueID: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The ack deadline of a department's step.
    case stepDeadline(DepartmentID, StepPosition)
    /// The next progress status update; the number tells a current cadence from a superseded one.
    case statusCadence(Int)

    /// `step:<department>:<round>:<step>` or `cadence:<n>`: the key a store keeps per incident.
    public var description: String {
        switch self {
        case .stepDeadline(let department, let position):
            "step:\(department):\(position.round):\(position.step)"
        case .statusCadence(let number):
            "cadence:\(number)"
        }
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.first {
        case "step" where parts.count == 4:
            guard let round = Int(parts[2]), let step = Int(parts[3]), !parts[1].isEmpty else { return nil }
            self = .stepDeadline(DepartmentID(String(parts[1])), StepPosition(round: round, step: step))
        case "cadence" where parts.count == 2:
            guard let number = Int(parts[1]) else { return nil }
            self = .statusCadence(number)
        default:
            return nil
        }
    }
}

/// `notice:<incident>:<kind>:<waybill>`: one per parcel and kind, whoever sends it. Progress
/// notices go out on every cadence, so theirs also carry the cadence number:
/// `notice:<incident>:progress.<n>:<waybill>`.
public struct NoticeID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var incident: IncidentID
    public var kind: NoticeKind
    public var sequence: Int?
    public var waybill: String

    public init(incident: IncidentID, kind: NoticeKind, sequence: Int? = nil, waybill: String) {
        self.incident = incident
        self.kind = kind
        self.sequence = sequence
        self.waybill = waybill
    }

    public var description: String {
        if let sequence {
            "notice:\(incident):\(kind.rawValue).\(sequence):\(waybill)"
        } else {
            "notice:\(incident):\(kind.rawValue):\(waybill)"
        }
    }
}

/// `status:<incident>:<seq>`.
public struct StatusUpdateID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var incident: IncidentID
    public var sequence: Int

    public init(incident: IncidentID, sequence: Int) {
        self.incident = incident
        self.sequence = sequence
    }

    public var description: String { "status:\(incident):\(sequence)" }
}
