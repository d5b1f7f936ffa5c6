import CallTree
public import struct Foundation.Data

/// How `apply` finds the incident a message belongs to.
public enum IncidentLookup: Sendable, Hashable, CustomStringConvertible {
    /// incident.v1 events: the open incident with this `incident_key`, else the most recently
    /// opened resolved one with it (the transition decides whether a trigger opens a new one).
    case key(String)
    /// Replies (from the page id) and due times.
    case id(IncidentID)
    /// A message that belongs to no incident; only its inbox id is recorded.
    case none

    public var description: String {
        switch self {
        case .key(let key): "incident key \(key)"
        case .id(let id): "incident \(id)"
        case .none: "no incident"
        }
    }
}

/// One incoming message (or fired due time) to apply in one transaction.
public struct ApplyRequest: Sendable {
    /// The inbox id. Namespace it by source so ids of different sources never collide:
    /// `incident:<event_id>`, `reply:<reply_id>`, and `DueClaim.messageID` for due times.
    public var messageID: String
    public var lookup: IncidentLookup
    /// When the message is applied (the worker's clock): the inbox and outbox rows' time.
    public var at: Timestamp
    /// Load the incident's affected parcels into `TransitionInput.parcels` (for events whose
    /// actions may send notices to all affected parcels: resolve, due times, resolve replies).
    public var includeParcels: Bool
    /// A claimed due time to delete in the same transaction, so it fires once.
    public var completing: DueClaim?
    /// Works out what to write from the incident as it is now. Runs inside the transaction,
    /// possibly more than once (after a conflict): no side effects. Throwing rolls back this
    /// message only.
    public var transition: @Sendable (TransitionInput) throws -> IncidentChanges
    /// Called after everything of this message was written and before its inbox id is
    /// recorded: lets tests simulate a crash half way through the transaction.
    public var beforeCommit: (@Sendable () throws -> Void)?
    /// The transition already worked out against the incident as read before the transaction
    /// (`IncidentStore.prepare(_:)`). Used when the incident is still at that version, so the
    /// transaction holds the writer only for its reads and inserts; otherwise `transition` runs
    /// again inside it. Either way the same rows are written.
    public var prepared: PreparedTransition?

    public init(
        messageID: String,
        lookup: IncidentLookup,
        at: Timestamp,
        includeParcels: Bool = false,
        completing: DueClaim? = nil,
        beforeCommit: (@Sendable () throws -> Void)? = nil,
        transition: @escaping @Sendable (TransitionInput) throws -> IncidentChanges
    ) {
        self.messageID = messageID
        self.lookup = lookup
        self.at = at
        self.includeParcels = includeParcels
        self.completing = completing
        self.beforeCommit = beforeCommit
        self.transition = transition
    }
}

/// A transition run ahead of its write transaction, with what it was run against.
public struct PreparedTransition: Sendable {
    /// The incident the lookup found then, and its version; nil when it found none.
    public var basis: Basis?
    public var changes: IncidentChanges
    /// `changes.state` in the store's encoding, made outside the transaction too.
    public var encodedState: Data?

    public struct Basis: Sendable, Hashable {
        public var incident: IncidentID
        public var version: Int64

        public init(incident: IncidentID, version: Int64) {
            self.incident = incident
            self.version = version
        }
    }

    public init(basis: Basis?, changes: IncidentChanges, encodedState: Data?) {
        self.basis = basis
        self.changes = changes
        self.encodedState = encodedState
    }

    /// Whether these changes still hold for the incident found inside the transaction: every
    /// write of its state, parcels or notice marks moves its version.
    public func holds(for found: Basis?) -> Bool {
        found == basis
    }
}

extension ApplyRequest {
    /// This request with its transition run against `incident` and `parcels`; unchanged when
    /// the transition or the state's encoding throws (the write reports it).
    public func prepared(against incident: StoredIncident?, parcels: [AffectedParcel]) -> ApplyRequest {
        guard let (changes, encodedState) = try? workedOut(against: incident, parcels: parcels) else { return self }
        var request = self
        request.prepared = PreparedTransition(basis: incident?.basis, changes: changes, encodedState: encodedState)
        return request
    }

    /// The prepared changes, when they still hold for the incident found inside the transaction;
    /// nil when the transition has to be worked out again.
    public func preparedChanges(for found: PreparedTransition.Basis?) -> (changes: IncidentChanges, encodedState: Data?)? {
        guard let prepared, prepared.holds(for: found) else { return nil }
        return (prepared.changes, prepared.encodedState)
    }

    /// The transition's changes against `incident` and `parcels`, with the new state encoded as
    /// the stores keep it.
    public func workedOut(
        against incident: StoredIncident?, parcels: [AffectedParcel]
    ) throws -> (changes: IncidentChanges, encodedState: Data?) {
        let changes = try transition(TransitionInput(incident: incident, parcels: parcels))
        return (changes, try changes.state?.storedJSON(message: messageID))
    }
}

/// What a transition sees.
public struct TransitionInput: Sendable {
    /// The incident found by the lookup, nil when there is none.
    public var incident: StoredIncident?
    /// Its affected parcels, when `ApplyRequest.includeParcels` asked for them; else empty.
    public var parcels: [AffectedParcel]

    public init(incident: StoredIncident?, parcels: [AffectedParcel] = []) {
        self.incident = incident
        self.parcels = parcels
    }
}

/// Everything one message changes. Every row belongs to the incident of `state` when there is
/// one, else to the incident the lookup found. When there is neither (a reply for an unknown
/// incident, a resolve for a key never seen), timeline entries are dropped, as there is no
/// timeline to add them to, and any other row is refused (`invalidChanges`).
public struct IncidentChanges: Sendable {
    /// The incident's new state; nil when the message changes no state (an ignored event; its
    /// timeline entries are still written when there is an incident). A state whose id differs
    /// from the incident found opens a new incident: allowed only when there was none or it is
    /// resolved (key reuse after resolve).
    public var state: IncidentState?
    public var timeline: [TimelineItem]
    /// Due times to keep; one that exists (same incident and id) is moved and its claim dropped.
    public var schedule: [DueSchedule]
    public var cancel: [DueID]
    /// Written in this order; a message whose id is already in the outbox is skipped, so a
    /// notice sent again for a known parcel is not doubled.
    public var outbox: [OutboxMessage]
    /// Parcels to record; known waybills are kept as they are.
    public var parcels: [Parcel]
    public var noticesSent: [NoticeMark]

    public init(
        state: IncidentState? = nil, timeline: [TimelineItem] = [], schedule: [DueSchedule] = [],
        cancel: [DueID] = [], outbox: [OutboxMessage] = [], parcels: [Parcel] = [], noticesSent: [NoticeMark] = []
    ) {
        self.state = state
        self.timeline = timeline
        self.schedule = schedule
        self.cancel = cancel
        self.outbox = outbox
        self.parcels = parcels
        self.noticesSent = noticesSent
    }

    /// Nothing changes; the message id is still recorded.
    public static let none = IncidentChanges()

    /// True when only timeline entries are to be written.
    public var onlyTimeline: Bool {
        state == nil && schedule.isEmpty && cancel.isEmpty && outbox.isEmpty && parcels.isEmpty && noticesSent.isEmpty
    }

    public var isEmpty: Bool {
        state == nil && timeline.isEmpty && schedule.isEmpty && cancel.isEmpty && outbox.isEmpty && parcels.isEmpty
            && noticesSent.isEmpty
    }
}

/// For stores that apply a batch first as if every message took effect (`IncidentStore.apply`):
/// thrown inside the transaction by a message applied without a savepoint whose result keeps
/// nothing. The store rolls the transaction back and applies the batch again carefully, or, for
/// a message alone that was looked up in the inbox, returns `result`. Shared by the stores of
/// this package, not part of the library's API.
package struct RolledBackMessage: Error {
    package var result: Result<ApplyOutcome, any Error>

    package init(result: Result<ApplyOutcome, any Error>) {
        self.result = result
    }
}

/// What `apply` did with one message.
public enum ApplyOutcome: Sendable, Hashable {
    /// Committed (or, in a batch, will be with the batch).
    case applied(Applied)
    /// The message id was in the inbox: nothing was done; ack the delivery.
    case alreadyProcessed
    /// Another writer changed the incident (or opened its key) between read and write: nothing
    /// was written; apply the message again.
    case conflict

    public struct Applied: Sendable, Hashable {
        /// The incident the rows were written for, if any.
        public var incident: IncidentID?
        /// Its version after the write (unchanged when neither its state, parcels nor notice marks changed).
        public var version: Int64?
        /// True when the state opened a new incident.
        public var opened: Bool
        /// Outbox rows written, and those skipped because their message id was already there.
        public var outboxWritten: Int
        public var outboxDuplicates: Int

        public init(incident: IncidentID?, version: Int64?, opened: Bool, outboxWritten: Int, outboxDuplicates: Int) {
            self.incident = incident
            self.version = version
            self.opened = opened
            self.outboxWritten = outboxWritten
            self.outboxDuplicates = outboxDuplicates
        }
    }

    public var applied: Applied? {
        if case .applied(let applied) = self { return applied }
        return nil
    }
}
