import PlanFile

/// What a simulation did, in order, ready to print as text or JSON.
public struct SimulatedTimeline: Sendable, Codable, Hashable {
    public var plan: String
    public var type: String
    public var typeName: String
    public var severity: String
    public var severityName: String
    public var drill: Bool
    public var affected: Int
    public var locale: String
    public var entries: [Entry]
    /// One rendered customer notice per kind sent.
    public var samples: [NoticeSample]
    /// How the simulation ended.
    public var end: String

    public enum Kind: String, Sendable, Codable, Hashable {
        case opened, engaged, page, timeout, ack, escalate, exhausted, status, notices, resolved, refused, note
    }

    public struct Entry: Sendable, Codable, Hashable {
        public var offsetMilliseconds: Int64
        public var kind: Kind
        public var department: String?
        public var round: Int?
        public var step: Int?
        public var contact: String?
        public var contactName: String?
        public var channel: String?
        public var address: String?
        public var ackDeadlineOffsetMilliseconds: Int64?
        public var sequence: Int?
        public var state: String?
        public var notice: String?
        public var count: Int?
        public var detail: String?
        public var text: String?

        public init(
            offsetMilliseconds: Int64, kind: Kind, department: String? = nil, detail: String? = nil
        ) {
            self.offsetMilliseconds = offsetMilliseconds
            self.kind = kind
            self.department = department
            self.detail = detail
        }

        /// `+5m`, `+1h30m`, `+0m`.
        public var offset: String {
            offsetMilliseconds == 0 ? "+0m" : "+" + DurationText.format(.milliseconds(offsetMilliseconds))
        }
    }

    public struct NoticeSample: Sendable, Codable, Hashable {
        public var kind: String
        public var waybill: String
        public var text: String
    }

    public var pages: [Entry] { entries.filter { $0.kind == .page } }
}
