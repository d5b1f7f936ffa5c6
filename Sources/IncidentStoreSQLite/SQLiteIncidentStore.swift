import CallTree
import Foundation
import GRDB
public import IncidentStore
public import Logging

/// The embedded default store: one SQLite file (WAL mode) that the worker processes of one
/// host share. Every write is one `BEGIN IMMEDIATE` transaction, so writers queue on the file
/// lock (up to the busy timeout) instead of failing; batches amortise the commit's sync.
public final class SQLiteIncidentStore: IncidentStore {
    public let configuration: SQLiteIncidentStoreConfiguration
    let pool: DatabasePool
    let logger: Logger
    /// Enough for every incident escalating at once on a busy host; a miss only costs a decode.
    let recentStates = RecentStates(capacity: 20_000)
    let checkpointer: LogCheckpointer
    /// Whose relay publishes the messages this store writes (`unpublishedOutbox`).
    let outboxOwner = OutboxOwner()
    /// What this store committed to the outbox lately, for its relay (`writtenOutbox`): a few
    /// rounds of a burst's rows.
    let writtenOutbox = WrittenOutbox(capacity: 4096)

    /// Opens (creating when missing) the file and brings its schema up to date.
    public init(configuration: SQLiteIncidentStoreConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let path = configuration.path
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw IncidentStoreError(
                    .cannotOpen,
                    "cannot create the data folder \(folder) for the store \(path): \(error). "
                        + "Create it, or set the store path to a writable place.")
            }
        }
        var config = Configuration()
        config.busyMode = .timeout(Double(configuration.busyTimeout.milliseconds) / 1000)
        config.maximumReaderCount = max(1, configuration.maximumReaderCount)
        config.label = "escalator-store"
        config.foreignKeysEnabled = false
        do {
            pool = try Self.openPool(path: path, configuration: config, busyTimeout: configuration.busyTimeout)
            let durability = configuration.durability.rawValue
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(durability)")
                // Room for a large batch's pages, so they reach the log once, at commit.
                try db.execute(sql: "PRAGMA cache_size = -32768")
                // Each message is written inside a savepoint, whose undo journal SQLite keeps in a
                // temporary file by default: two writes per page touched, more than the log itself.
                try db.execute(sql: "PRAGMA temp_store = MEMORY")
                // The log is copied into the database file beside the writer (LogCheckpointer);
                // the writer's own checkpoints are only a backstop.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(LogCheckpointer.backstopPages)")
            }
        } catch {
            throw IncidentStoreError(
                .cannotOpen,
                "cannot open the SQLite store \(path): \(error). Check that the file is an Escalator store, "
                    + "that its folder is writable, and that the disk is not full.")
        }
        try Self.migrate(pool, path: path, logger: logger)
        do {
            checkpointer = try LogCheckpointer(
                path: path, interval: configuration.checkpointInterval, busyTimeout: configuration.busyTimeout, logger: logger)
        } catch {
            throw IncidentStoreError(.cannotOpen, "cannot open a second connection to the SQLite store \(path): \(error)")
        }
    }

    /// Processes opening a new file together race to switch it to WAL mode; SQLite answers the
    /// loser "locked" at once, without its busy handler, so the opening is tried again.
    private static func openPool(path: String, configuration: Configuration, busyTimeout: Duration) throws -> DatabasePool {
        let deadline = ContinuousClock.now + busyTimeout
        var attempt = 0
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError
                where (error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED) && ContinuousClock.now < deadline
            {
                attempt += 1
                Thread.sleep(forTimeInterval: min(0.2, 0.01 * Double(attempt)))
            }
        }
    }

    /// Several processes may start at once on a new file: a migration that loses the race
    /// fails, finds the other's work done, and goes on.
    private static func migrate(_ pool: DatabasePool, path: String, logger: Logger) throws {
        let migrator = Schema.migrator
        var attempt = 0
        while true {
            attempt += 1
            do {
                try migrator.migrate(pool)
                return
            } catch {
                let done = (try? pool.read { db in try migrator.hasCompletedMigrations(db) }) ?? false
                if done { return }
                if attempt >= 5 {
                    throw IncidentStoreError(
                        .migrationFailed,
                        "cannot bring the schema of \(path) up to date: \(error). If the file was written by a "
                            + "newer Escalator, run that version; otherwise restore it from a backup.")
                }
                logger.warning(
                    "store migration failed, retrying", metadata: ["path": "\(path)", "error": "\(error)"])
                Thread.sleep(forTimeInterval: 0.05 * Double(attempt))
            }
        }
    }

    func failure(_ error: any Error, _ doing: String) -> any Error {
        if error is IncidentStoreError || error is CancellationError { return error }
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_BUSY {
            return IncidentStoreError(
                .databaseFailed,
                "\(doing) in \(configuration.path): the file stayed locked by another process for longer than "
                    + "the busy timeout (\(configuration.busyTimeout)); retry, or raise the busy timeout.")
        }
        return IncidentStoreError(.databaseFailed, "\(doing) in \(configuration.path): \(error)")
    }

    // MARK: Apply

    public func apply(batch: [ApplyRequest]) async throws -> [Result<ApplyOutcome, any Error>] {
        guard !batch.isEmpty else { return [] }
        do {
            let recent = recentStates
            let outboxOwner = outboxOwner
            let writtenOutbox = writtenOutbox
            let results = try await write { db in
                // The batch in one transaction: `carefully`, each message in a savepoint of its own.
                func attempt(carefully: Bool) throws -> [Result<ApplyOutcome, any Error>] {
                    var results: [Result<ApplyOutcome, any Error>] = []
                    results.reserveCapacity(batch.count)
                    let written = WrittenStates()
                    let outbox = outboxOwner.transaction()
                    defer { outbox.settle() }
                    var sequence: (before: Int64?, after: Int64?) = (nil, nil)
                    try db.inTransaction(.immediate) {
                        sequence.before = try Writer.outboxSequence(db)
                        let writer = Writer(db: db, written: written, outbox: outbox)
                        for request in batch {
                            results.append(try writer.applyOne(request, savepoint: carefully))
                        }
                        sequence.after = try Writer.outboxSequence(db)
                        return .commit
                    }
                    recent.remember(written.committedMessages)
                    if writtenOutbox.committed(written.outbox, sequenceBefore: sequence.before, sequenceAfter: sequence.after) {
                        self.anotherWriterFound()
                    }
                    return results
                }
                do {
                    // As if every message took effect: no savepoints, two statements fewer each.
                    return try attempt(carefully: false)
                } catch let rolledBack as RolledBackMessage {
                    // A message kept nothing (a conflict, a failure): alone, and looked up in the
                    // inbox, that is its result; else the batch again, each message looked up, and
                    // kept or undone on its own.
                    guard batch.count > 1 || batch[0].prepared != nil else { return [rolledBack.result] }
                    return try attempt(carefully: true)
                }
            }
            for case (let request, .success(.conflict)) in zip(batch, results) {
                logger.debug("store conflict", metadata: ["message_id": "\(request.messageID)"])
            }
            return results
        } catch {
            throw failure(error, "applying \(batch.count) message(s)")
        }
    }

    /// One read transaction for the whole batch (a reader, not the writer), then the
    /// transitions on the caller's task.
    public func prepare(_ batch: [ApplyRequest]) async throws -> [ApplyRequest] {
        guard !batch.isEmpty else { return batch }
        let recent = recentStates
        let inputs = try await read("reading the incidents of \(batch.count) message(s)") { db in
            let writer = Writer(db: db, recent: recent)
            return batch.map { request -> (incident: StoredIncident?, parcels: [AffectedParcel])? in
                do {
                    if try writer.inboxContains(request.messageID) { return nil }
                    let incident = try writer.loadIncident(request.lookup)
                    let parcels = try request.includeParcels ? incident.map { try writer.loadParcels($0.id) } ?? [] : []
                    return (incident, parcels)
                } catch {
                    return nil  // `apply` reads the row again and reports what is wrong with it
                }
            }
        }
        return zip(batch, inputs).map { request, input in
            input.map { request.prepared(against: $0.incident, parcels: $0.parcels) } ?? request
        }
    }

    // MARK: Due times

    public func claimDueTimes(now: Timestamp, lease: Duration, limit: Int) async throws -> [DueClaim] {
        guard limit > 0 else { return [] }
        let until = now + lease
        do {
            return try await writeRelaxed { db in
                var claims: [DueClaim] = []
                try db.inTransaction(.immediate) {
                    claims.removeAll()
                    let rows = try Row.fetchAll(
                        db.cachedStatement(
                            // Each half from its partial index: due times held by live claims
                            // (thousands, when many fire at once) are never walked past.
                            sql: """
                                SELECT i.id, due.incident_number, due.due_id, due.due_at FROM (
                                    SELECT incident_number, due_id, due_at FROM (
                                        SELECT incident_number, due_id, due_at FROM due_time
                                        WHERE claimed_until IS NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2)
                                    UNION ALL
                                    SELECT incident_number, due_id, due_at FROM (
                                        SELECT incident_number, due_id, due_at FROM due_time
                                        WHERE claimed_until IS NOT NULL AND claimed_until <= ?1 AND due_at <= ?1
                                        ORDER BY claimed_until LIMIT ?2)
                                    ORDER BY due_at LIMIT ?2
                                ) due JOIN incident i ON i.number = due.incident_number
                                ORDER BY due.due_at
                                """),
                        arguments: [now.millisecondsSinceEpoch, limit])
                    let update = try db.cachedStatement(
                        sql: "UPDATE due_time SET claim_token = ?, claimed_until = ? WHERE incident_number = ? AND due_id = ?")
                    for row in rows {
                        let incident: String = row[0]
                        let number: Int64 = row[1]
                        let dueText: String = row[2]
                        guard let due = DueID(dueText) else {
                            throw IncidentStoreError(
                                .corruptRow, "due time \(dueText) of incident \(incident) is not a due id")
                        }
                        let token = UUID().uuidString
                        try update.execute(arguments: [token, until.millisecondsSinceEpoch, number, dueText])
                        claims.append(
                            DueClaim(
                                incident: IncidentID(incident), id: due,
                                at: Timestamp(millisecondsSinceEpoch: row[3]), token: token, leaseUntil: until))
                    }
                    return .commit
                }
                return claims
            }
        } catch {
            throw failure(error, "claiming due times")
        }
    }

    public func completeDueTime(_ claim: DueClaim) async throws -> Bool {
        try await writeCountingChanges(
            "completing due time \(claim.id) of incident \(claim.incident)",
            sql: """
                DELETE FROM due_time WHERE incident_number = \(Writer.numberOfIncident)
                    AND due_id = ? AND claim_token = ?
                """,
            arguments: [claim.incident.rawValue, claim.id.description, claim.token]) > 0
    }

    public func releaseDueTime(_ claim: DueClaim) async throws -> Bool {
        try await writeCountingChanges(
            "releasing due time \(claim.id) of incident \(claim.incident)",
            sql: """
                UPDATE due_time SET claim_token = NULL, claimed_until = NULL
                WHERE incident_number = \(Writer.numberOfIncident) AND due_id = ? AND claim_token = ?
                """,
            arguments: [claim.incident.rawValue, claim.id.description, claim.token]) > 0
    }

    public func nextDueAt() async throws -> Timestamp? {
        try await read("finding the next due time") { db in
            // A claim is taken at or after its due time, so a claimed due time becomes claimable
            // again when its lease ends; each half has its own partial index.
            let unclaimed = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT MIN(due_at) FROM due_time WHERE claimed_until IS NULL"))
            let leaseEnd = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT MIN(claimed_until) FROM due_time WHERE claimed_until IS NOT NULL"))
            return [unclaimed, leaseEnd].compactMap { $0 }.min().map(Timestamp.init(millisecondsSinceEpoch:))
        }
    }

    public func dueTimes(of incident: IncidentID) async throws -> [ScheduledDueTime] {
        try await read("reading the due times of incident \(incident)") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT due_id, due_at, claimed_until FROM due_time
                    WHERE incident_number = \(Writer.numberOfIncident) ORDER BY due_at, due_id
                    """,
                arguments: [incident.rawValue]
            ).map { row in
                let text: String = row[0]
                guard let id = DueID(text) else {
                    throw IncidentStoreError(.corruptRow, "due time \(text) of incident \(incident) is not a due id")
                }
                let claimedUntil: Int64? = row[2]
                return ScheduledDueTime(
                    incident: incident, id: id, at: Timestamp(millisecondsSinceEpoch: row[1]),
                    claimedUntil: claimedUntil.map(Timestamp.init(millisecondsSinceEpoch:)))
            }
        }
    }

    // MARK: Outbox

    /// Writes take the file's one write lock in turn, and `AUTOINCREMENT` numbers rows inside
    /// them: sequence order is commit order.
    public var outboxSequencesFollowCommits: Bool { true }

    public func outboxTakeoverBaseline() -> Int { outboxOwner.baseline() }

    public func writtenOutbox(after: Int64, limit: Int) -> [OutboxRecord]? {
        writtenOutbox.take(after: after, limit: limit)
    }

    private func anotherWriterFound() {
        logger.info(
            "another process writes messages to this store's outbox too: the relay reads every message back from now on",
            metadata: ["path": "\(configuration.path)"])
    }

    public func outboxTakeovers(since baseline: Int) -> Set<IncidentID> { outboxOwner.incidentsTakenOver(since: baseline) }

    public func unpublishedOutbox(after: Int64, limit: Int, othersWrittenBefore: Timestamp) async throws -> [OutboxRecord] {
        try await read("reading the outbox") { [owner = outboxOwner.name] db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT o.seq, o.incident_id, o.message_id, o.exchange, o.routing_key, o.properties, o.body,
                            o.created_at, o.published_at
                        FROM outbox o LEFT JOIN incident i ON i.number = o.incident_number
                        WHERE o.published_at IS NULL AND o.seq > ?
                            AND (i.outbox_owner IS NULL OR i.outbox_owner = ? OR i.outbox_owned_at < ?)
                        ORDER BY o.seq LIMIT ?
                        """),
                arguments: [after, owner, othersWrittenBefore.millisecondsSinceEpoch, limit]
            ).map(Rows.outbox)
        }
    }

    public func markPublished(_ sequences: [Int64], at: Timestamp) async throws {
        guard !sequences.isEmpty else { return }
        do {
            try await writeRelaxed { db in
                try db.inTransaction(.immediate) {
                    // Marks come every few rounds: another writer's rows are noticed soon.
                    if self.writtenOutbox.writing(sequenceNow: try Writer.outboxSequence(db)) { self.anotherWriterFound() }
                    let statement = try db.cachedStatement(
                        sql: "UPDATE outbox SET published_at = ? WHERE seq = ? AND published_at IS NULL")
                    for sequence in sequences {
                        try statement.execute(arguments: [at.millisecondsSinceEpoch, sequence])
                    }
                    return .commit
                }
            }
        } catch {
            throw failure(error, "marking \(sequences.count) outbox rows published")
        }
    }

    // MARK: Queries

    public func incident(_ lookup: IncidentLookup) async throws -> StoredIncident? {
        try await read("reading \(lookup)") { db in try Writer(db: db).loadIncident(lookup) }
    }

    public func openIncidents() async throws -> [StoredIncident] {
        try await read("reading the open incidents") { db in
            try Row.fetchAll(
                db, sql: "SELECT id, state, version FROM incident WHERE resolved_at IS NULL ORDER BY opened_at, id"
            ).map(Rows.incident)
        }
    }

    public func timeline(of incident: IncidentID) async throws -> [TimelineRecord] {
        try await read("reading the timeline of incident \(incident)") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, incident_id, at, kind, department, contact, channel, reference, since_first_page_ms,
                           summary, detail
                    FROM timeline WHERE incident_number = \(Writer.numberOfIncident) ORDER BY at, seq
                    """,
                arguments: [incident.rawValue]
            ).map(Rows.timeline)
        }
    }

    public func parcels(of incident: IncidentID) async throws -> [AffectedParcel] {
        try await read("reading the parcels of incident \(incident)") { db in
            try Writer(db: db).loadParcels(incident)
        }
    }

    public func ackStatistics(_ query: AckStatisticsQuery) async throws -> [AckStatistic] {
        var conditions = ["t.kind = ?", "t.since_first_page_ms IS NOT NULL", "t.department IS NOT NULL"]
        var arguments: StatementArguments = [TimelineKind.acknowledged.rawValue]
        func filter(_ condition: String, _ value: (any DatabaseValueConvertible)?) {
            guard let value else { return }
            conditions.append(condition)
            _ = arguments.append(contentsOf: [value])
        }
        filter("t.at >= ?", query.from?.millisecondsSinceEpoch)
        filter("t.at < ?", query.until?.millisecondsSinceEpoch)
        filter("i.type = ?", query.type?.rawValue)
        filter("t.incident_id = ?", query.incident?.rawValue)
        switch query.drills {
        case .excluded: conditions.append("i.drill = 0")
        case .only: conditions.append("i.drill = 1")
        case .included: break
        }
        let filter = conditions.joined(separator: " AND ")
        let sql = """
            SELECT department, contact, n, fastest, slowest, mean FROM (
                SELECT t.department AS department, NULL AS contact, COUNT(*) AS n,
                       MIN(t.since_first_page_ms) AS fastest, MAX(t.since_first_page_ms) AS slowest,
                       AVG(t.since_first_page_ms) AS mean
                FROM timeline t JOIN incident i ON i.number = t.incident_number WHERE \(filter) GROUP BY t.department
                UNION ALL
                SELECT t.department, t.contact, COUNT(*),
                       MIN(t.since_first_page_ms), MAX(t.since_first_page_ms), AVG(t.since_first_page_ms)
                FROM timeline t JOIN incident i ON i.number = t.incident_number WHERE \(filter) AND t.contact IS NOT NULL
                GROUP BY t.department, t.contact
            ) ORDER BY department, contact IS NOT NULL, contact
            """
        var allArguments = arguments
        _ = allArguments.append(contentsOf: arguments)
        let finalArguments = allArguments
        return try await read("computing ack statistics") { db in
            try Row.fetchAll(db, sql: sql, arguments: finalArguments).map { row in
                let contact: String? = row[1]
                let mean: Double = row[5]
                return AckStatistic(
                    department: DepartmentID(row[0] as String), contact: contact.map(ContactID.init(rawValue:)),
                    acknowledgements: row[2], fastest: .milliseconds(row[3] as Int64),
                    slowest: .milliseconds(row[4] as Int64), mean: .milliseconds(Int64(mean.rounded())))
            }
        }
    }

    // MARK: Retention

    public func prune(resolvedBefore: Timestamp) async throws -> PruneSummary {
        let cutoff = resolvedBefore.millisecondsSinceEpoch
        do {
            return try await write { db in
                var summary = PruneSummary(inboxRows: 0, outboxRows: 0)
                try db.inTransaction(.immediate) {
                    // Old rows are found by time, not by incident (see migration v3): the inbox by
                    // when it processed the message, the outbox up to the first row written at or
                    // after the cutoff, its sequence following time.
                    let resolvedIncidents = "SELECT id FROM incident WHERE resolved_at IS NOT NULL AND resolved_at < ?1"
                    try db.execute(
                        sql: """
                            DELETE FROM inbox WHERE processed_at < ?1
                                AND (incident_id IS NULL OR incident_id IN (\(resolvedIncidents)))
                            """,
                        arguments: [cutoff])
                    summary.inboxRows = db.changesCount
                    try db.execute(
                        sql: """
                            DELETE FROM outbox WHERE seq < COALESCE(
                                    (SELECT seq FROM outbox WHERE created_at >= ?1 ORDER BY seq LIMIT 1),
                                    (SELECT MAX(seq) FROM outbox) + 1)
                                AND published_at IS NOT NULL AND incident_id IN (\(resolvedIncidents))
                            """,
                        arguments: [cutoff])
                    summary.outboxRows = db.changesCount
                    return .commit
                }
                return summary
            }
        } catch {
            throw failure(error, "pruning rows of incidents resolved before \(resolvedBefore)")
        }
    }

    // MARK: Helpers

    private func read<T: Sendable>(_ doing: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw failure(error, doing)
        }
    }

    /// A write whose loss in a power cut costs only work done again — a due time claimed again
    /// after its lease, a message published again under its id — commits without waiting for
    /// the disk; the next durable commit syncs the log with it. With `durability: .full` this
    /// keeps one disk sync per applied batch instead of three.
    private func writeRelaxed<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        guard configuration.durability == .full else { return try await write(body) }
        return try await write { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
            return try body(db)
        }
    }

    /// Every write after start-up goes through here: the log it grew is then copied into the
    /// database file beside the writer (`LogCheckpointer`).
    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        defer { checkpointer.committed() }
        return try await pool.writeWithoutTransaction(body)
    }

    private func writeCountingChanges(_ doing: String, sql: String, arguments: StatementArguments) async throws -> Int {
        do {
            return try await writeRelaxed { db in
                var changes = 0
                try db.inTransaction(.immediate) {
                    try db.execute(sql: sql, arguments: arguments)
                    changes = db.changesCount
                    return .commit
                }
                return changes
            }
        } catch {
            throw failure(error, doing)
        }
    }
}
