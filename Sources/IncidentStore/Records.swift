import CallTree
public import struct Foundation.Data

/// An incident as stored: its call-tree state and the version its next write must compare.
public struct StoredIncident: Sendable, Hashable {
    public var state: IncidentState
    /// Starts at 1 and grows by one per write of its state, parcels or notice marks.
    public var version: Int64

    public init(state: IncidentState, version: Int64) {
        self.state = state
        self.version = version
    }

    public var id: IncidentID { state.id }
    public var key: String { state.key }
    public var isResolved: Bool { state.isResolved }
    /// What a transition prepared against this incident was worked out from.
    public var basis: PreparedTransition.Basis { PreparedTransition.Basis(incident: id, version: version) }
}

/// A due time to keep for the incident.
public struct DueSchedule: Sendable, Hashable {
    public var id: DueID
    public var at: Timestamp

    public init(_ id: DueID, at: Timestamp) {
        self.id = id
        self.at = at
    }
}

/// A due time as stored.
public struct ScheduledDueTime: Sendable, Hashable {
    public var incident: IncidentID
    public var id: DueID
    public var at: Timestamp
    /// When its current claim lapses; nil when nobody holds it.
    public var claimedUntil: Timestamp?

    public init(incident: IncidentID, id: DueID, at: Timestamp, claimedUntil: Timestamp?) {
        self.incident = incident
        self.id = id
        self.at = at
        self.claimedUntil = claimedUntil
    }
}

/// A due time one worker holds until `leaseUntil`.
public struct DueClaim: Sendable, Hashable {
    public var incident: IncidentID
    public var id: DueID
    public var at: Timestamp
    /// Proves the claim is still this worker's when it completes or releases it.
    public var token: String
    public var leaseUntil: Timestamp

    public init(incident: IncidentID, id: DueID, at: Timestamp, token: String, leaseUntil: Timestamp) {
        self.incident = incident
        self.id = id
        self.at = at
        self.token = token
        self.leaseUntil = leaseUntil
    }

    /// The inbox id of this due time firing: the same for every worker that claims it, so it
    /// takes effect once even if a lapsed lease lets a second worker claim it.
    public var messageID: String { "due:\(incident):\(id):\(at.millisecondsSinceEpoch)" }
}

/// Properties of a message to publish (AMQP basic properties the worker sets).
public struct MessageProperties: Sendable, Hashable, Codable {
    public var contentType: String
    public var correlationID: String?
    public var replyTo: String?
    /// Delivery mode 2 when true.
    public var persistent: Bool
    public var headers: [String: String]

    public init(
        contentType: String = "application/json", correlationID: String? = nil, replyTo: String? = nil,
        persistent: Bool = true, headers: [String: String] = [:]
    ) {
        self.contentType = contentType
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.persistent = persistent
        self.headers = headers
    }
}

/// A message to publish once the transaction commits.
public struct OutboxMessage: Sendable, Hashable {
    /// Deterministic (page id, notice id, status update id): the AMQP `message_id`, and the
    /// outbox's dedupe key.
    public var messageID: String
    public var exchange: String
    public var routingKey: String
    public var properties: MessageProperties
    public var body: Data

    public init(messageID: String, exchange: String, routingKey: String, properties: MessageProperties, body: Data) {
        self.messageID = messageID
        self.exchange = exchange
        self.routingKey = routingKey
        self.properties = properties
        self.body = body
    }
}

/// An outbox row.
public struct OutboxRecord: Sendable, Hashable {
    /// Increases with every row written: the publishing order.
    public var sequence: Int64
    public var incident: IncidentID?
    public var message: OutboxMessage
    public var createdAt: Timestamp
    public var publishedAt: Timestamp?

    public init(
        sequence: Int64, incident: IncidentID?, message: OutboxMessage, createdAt: Timestamp, publishedAt: Timestamp?
    ) {
        self.sequence = sequence
        self.incident = incident
        self.message = message
        self.createdAt = createdAt
        self.publishedAt = publishedAt
    }
}

/// A kind of timeline entry; the raw value is stored.
public struct TimelineKind: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let opened: TimelineKind = "opened"
    public static let updated: TimelineKind = "updated"
    public static let departmentEngaged: TimelineKind = "department-engaged"
    public static let page: TimelineKind = "page"
    public static let stepTimedOut: TimelineKind = "step-timed-out"
    public static let escalated: TimelineKind = "escalated"
    /// `department`, `contact`, `channel`, `sinceFirstPage` are set: ack statistics read these.
    public static let acknowledged: TimelineKind = "acknowledged"
    public static let alsoAcknowledged: TimelineKind = "also-acknowledged"
    public static let exhausted: TimelineKind = "exhausted"
    public static let replyRefused: TimelineKind = "reply-refused"
    public static let resolved: TimelineKind = "resolved"
    public static let ignored: TimelineKind = "ignored"
    public static let statusUpdate: TimelineKind = "status-update"
    public static let notices: TimelineKind = "notices"
}

/// One entry to add to an incident's timeline. The structured fields are what reports query;
/// `summary` is what a person reads; `detail` holds the rest.
public struct TimelineItem: Sendable, Hashable {
    public var at: Timestamp
    public var kind: TimelineKind
    public var department: DepartmentID?
    public var contact: ContactID?
    public var channel: String?
    /// The id the entry is about: page, status update, reply.
    public var reference: String?
    /// For acknowledgements: the department's time to acknowledge.
    public var sinceFirstPage: Duration?
    public var summary: String
    public var detail: [String: String]

    public init(
        at: Timestamp, kind: TimelineKind, department: DepartmentID? = nil, contact: ContactID? = nil,
        channel: String? = nil, reference: String? = nil, sinceFirstPage: Duration? = nil, summary: String,
        detail: [String: String] = [:]
    ) {
        self.at = at
        self.kind = kind
        self.department = department
        self.contact = contact
        self.channel = channel
        self.reference = reference
        self.sinceFirstPage = sinceFirstPage
        self.summary = summary
        self.detail = detail
    }
}

/// A timeline entry as stored.
public struct TimelineRecord: Sendable, Hashable {
    /// Increases with every entry written.
    public var sequence: Int64
    public var incident: IncidentID
    public var item: TimelineItem

    public init(sequence: Int64, incident: IncidentID, item: TimelineItem) {
        self.sequence = sequence
        self.incident = incident
        self.item = item
    }
}

/// A notice kind sent to a parcel.
public struct NoticeMark: Sendable, Hashable {
    public var waybill: String
    public var kind: NoticeKind

    public init(waybill: String, kind: NoticeKind) {
        self.waybill = waybill
        self.kind = kind
    }
}

/// A parcel of an incident and the notices its customer was sent.
public struct AffectedParcel: Sendable, Hashable {
    public var parcel: Parcel
    public var noticesSent: Set<NoticeKind>

    public init(parcel: Parcel, noticesSent: Set<NoticeKind> = []) {
        self.parcel = parcel
        self.noticesSent = noticesSent
    }
}

/// Which acknowledgements `ackStatistics` counts.
public struct AckStatisticsQuery: Sendable, Hashable {
    /// Acknowledgements at or after this time.
    public var from: Timestamp?
    /// Acknowledgements before this time.
    public var until: Timestamp?
    /// Drill incidents are counted only when true (a drill report asks for drills only).
    public var drills: DrillFilter
    public var type: IncidentTypeID?
    public var incident: IncidentID?

    public enum DrillFilter: Sendable, Hashable {
        case excluded, only, included
    }

    public init(
        from: Timestamp? = nil, until: Timestamp? = nil, drills: DrillFilter = .excluded, type: IncidentTypeID? = nil,
        incident: IncidentID? = nil
    ) {
        self.from = from
        self.until = until
        self.drills = drills
        self.type = type
        self.incident = incident
    }
}

/// Time to acknowledge of a department (`contact` nil: all its contacts) or of one contact.
public struct AckStatistic: Sendable, Hashable {
    public var department: DepartmentID
    public var contact: ContactID?
    public var acknowledgements: Int
    public var fastest: Duration
    public var slowest: Duration
    public var mean: Duration

    public init(
        department: DepartmentID, contact: ContactID?, acknowledgements: Int, fastest: Duration, slowest: Duration,
        mean: Duration
    ) {
        self.department = department
        self.contact = contact
        self.acknowledgements = acknowledgements
        self.fastest = fastest
        self.slowest = slowest
        self.mean = mean
    }
}

/// What `prune` deleted.
public struct PruneSummary: Sendable, Hashable {
    public var inboxRows: Int
    public var outboxRows: Int

    public init(inboxRows: Int, outboxRows: Int) {
        self.inboxRows = inboxRows
        self.outboxRows = outboxRows
    }
}
