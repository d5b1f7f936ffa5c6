import CallTree

/// The single source of truth of Escalator (DESIGN.md, guarantees 1–4): incident state, inbox,
/// timeline, due times, outbox and affected parcels, each message applied in one transaction.
///
/// Implementations: `SQLiteIncidentStore` (embedded default, one host), a PostgreSQL store
/// (several hosts). Both pass the same conformance suite (`Tests/IncidentStoreTests`).
///
/// Times always come from the caller (`now`, `at`): the store never reads a clock, so tests and
/// replays are exact.
public protocol IncidentStore: Sendable {
    /// Applies several messages in one transaction, in order, as if each were inside its own
    /// savepoint: one message's failing transition (or conflict) keeps nothing of that message
    /// only. Returns one result per request, in the same order. Throws only when the whole
    /// transaction failed (database unreachable, disk full): then nothing of the batch was kept.
    ///
    /// For each request: if its `messageID` is in the inbox the result is `.alreadyProcessed`.
    /// Otherwise the incident is looked up, the transition run, the new state compare-and-set on
    /// the version read, the timeline, due times, outbox rows, parcels and notice marks written,
    /// `completing` deleted, and the message id recorded. A store may first try the batch as if
    /// every message took effect and, when one does not, roll it back and apply it again message
    /// by message: transitions (pure) and `beforeCommit` hooks can then run more than once.
    func apply(batch: [ApplyRequest]) async throws -> [Result<ApplyOutcome, any Error>]

    /// Runs each request's transition against the incident as it is now, without taking the
    /// writer, and returns the requests carrying the result (`ApplyRequest.prepared`), so that
    /// `apply(batch:)` holds the writer only for its reads and inserts and the transitions of
    /// the next batch run while this one commits. A request already in the inbox, or whose
    /// transition throws, comes back as it was: `apply` deals with it. Skipping this changes
    /// nothing that is written.
    func prepare(_ batch: [ApplyRequest]) async throws -> [ApplyRequest]

    // MARK: Due times

    /// Claims up to `limit` due times whose time has come (`at <= now`) and that nobody holds:
    /// never claimed, released, or claimed with a lease that ran out before `now`. Each claim
    /// lasts until `now + lease`; a worker that dies simply lets it lapse. Oldest first.
    func claimDueTimes(now: Timestamp, lease: Duration, limit: Int) async throws -> [DueClaim]

    /// Deletes a claimed due time; false when the claim was lost (lease lapsed and someone else
    /// claimed it, or the due time was cancelled or rescheduled). Usually done inside `apply`
    /// with `ApplyRequest.completing`, in the same transaction as its effect.
    @discardableResult
    func completeDueTime(_ claim: DueClaim) async throws -> Bool

    /// Gives a claimed due time back so the next sweep claims it again at once; false when the
    /// claim was already lost.
    @discardableResult
    func releaseDueTime(_ claim: DueClaim) async throws -> Bool

    /// When the next due time becomes claimable (its time, or the end of its current lease),
    /// so a sweep can sleep until then; nil when nothing is scheduled.
    func nextDueAt() async throws -> Timestamp?

    /// The due times scheduled for an incident, soonest first.
    func dueTimes(of incident: IncidentID) async throws -> [ScheduledDueTime]

    // MARK: Outbox

    /// The unpublished outbox rows this store's relay is to publish, after sequence `after`, in
    /// the order they were written (per incident, the order of its transitions), at most
    /// `limit`. A relay with rows in flight reads on from the last one it took, and from 0 again
    /// when it has none in flight.
    ///
    /// Each incident's unpublished rows belong to the store that last wrote rows for it (each
    /// worker opens its own), so workers side by side do not all publish every message. Another
    /// store's incident is included, all its rows at once, when its newest rows were written
    /// before `othersWrittenBefore`: their owner has had time to publish them and is presumed
    /// gone. `Timestamp.distantFuture` reads every row.
    ///
    /// A relay reading on past sequence 0 keeps each incident's order only if it keeps
    /// `othersWrittenBefore` from its last read at sequence 0, and reads from 0 again before
    /// publishing a row read on of an incident in `outboxTakeovers(since:)` of the baseline
    /// taken before that read: such an incident became its own with earlier rows possibly
    /// behind its cursor.
    func unpublishedOutbox(after: Int64, limit: Int, othersWrittenBefore: Timestamp) async throws -> [OutboxRecord]

    /// Where the takeovers not yet committed (or rolled back) begin, for
    /// `outboxTakeovers(since:)`; taken before each read from sequence 0.
    func outboxTakeoverBaseline() -> Int

    /// The incidents whose unpublished messages another store owned and this store's writes took
    /// over, logged before each write commits, from `baseline` on.
    func outboxTakeovers(since baseline: Int) -> Set<IncidentID>

    /// The outbox rows this store wrote and committed right after sequence `after`, in sequence
    /// order, when no other row lies between: what `unpublishedOutbox(after:limit:...)` would
    /// read for them, without reading them, at most `limit`, each row once; empty when it knows
    /// there is none after `after`. nil when it cannot tell (another process writes rows too, it
    /// kept none, or it does not keep them): the relay reads instead.
    func writtenOutbox(after: Int64, limit: Int) -> [OutboxRecord]?

    /// True when outbox sequences are given in commit order (one writer at a time), so a row
    /// that commits later never has a lower sequence and reading on past a sequence misses
    /// nothing. A relay on a store without it reads from the start every round.
    var outboxSequencesFollowCommits: Bool { get }

    /// Marks rows published once the broker confirmed them. Unknown sequences are ignored.
    func markPublished(_ sequences: [Int64], at: Timestamp) async throws

    // MARK: Queries

    /// `.id`: that incident. `.key`: the open incident with the key, else the most recently
    /// opened resolved one (so late events are recorded on it), else nil.
    func incident(_ lookup: IncidentLookup) async throws -> StoredIncident?

    /// Incidents not resolved, oldest first.
    func openIncidents() async throws -> [StoredIncident]

    /// Every incident, resolved or not: the `limit` most recently opened, oldest first (what
    /// `escalator incidents --all` lists).
    func recentIncidents(limit: Int) async throws -> [StoredIncident]

    /// Everything recorded for an incident, in the order it happened (then written).
    func timeline(of incident: IncidentID) async throws -> [TimelineRecord]

    /// The parcels recorded for an incident with the notice kinds already sent to each.
    func parcels(of incident: IncidentID) async throws -> [AffectedParcel]

    /// Time to acknowledge per department, and per department and contact.
    func ackStatistics(_ query: AckStatisticsQuery) async throws -> [AckStatistic]

    // MARK: Retention

    /// Deletes the inbox rows and the published outbox rows of incidents resolved before
    /// `resolvedBefore`, and inbox rows of messages that found no incident processed before it.
    /// Incidents, timelines, parcels and unpublished outbox rows are kept.
    @discardableResult
    func prune(resolvedBefore: Timestamp) async throws -> PruneSummary
}

extension IncidentStore {
    /// Concurrent writers take sequences as they insert, not as they commit.
    public var outboxSequencesFollowCommits: Bool { false }

    /// Kept by none: the relay reads every row.
    public func writtenOutbox(after: Int64, limit: Int) -> [OutboxRecord]? { nil }

    /// Every unpublished outbox row from the first, whoever wrote it, at most `limit`.
    public func unpublishedOutbox(limit: Int) async throws -> [OutboxRecord] {
        try await unpublishedOutbox(after: 0, limit: limit, othersWrittenBefore: .distantFuture)
    }

    /// Applies one message in its own transaction. A transition that throws rolls everything
    /// back and its error is rethrown.
    public func apply(_ request: ApplyRequest) async throws -> ApplyOutcome {
        let results = try await apply(batch: [request])
        guard let result = results.first else {
            throw IncidentStoreError(.internalError, "the store returned no result for message \(request.messageID)")
        }
        return try result.get()
    }

    /// Prunes what `prune(resolvedBefore:)` prunes for incidents resolved more than `age` before
    /// `now`. Keep `age` well above the broker's redelivery window: a message whose inbox row
    /// is gone is applied again.
    @discardableResult
    public func prune(resolvedMoreThan age: Duration, before now: Timestamp) async throws -> PruneSummary {
        try await prune(resolvedBefore: Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch - age.milliseconds))
    }

    /// Applies one message, running it again while it ends in `.conflict` (another writer
    /// changed the incident in between), at most `attempts` times.
    public func applyRetryingConflicts(_ request: ApplyRequest, attempts: Int = 5) async throws -> ApplyOutcome {
        var outcome = ApplyOutcome.conflict
        for _ in 0..<max(1, attempts) {
            outcome = try await apply(request)
            if outcome != .conflict { return outcome }
        }
        return outcome
    }
}
