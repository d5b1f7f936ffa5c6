import CallTree
import Foundation
public import IncidentStore
public import Logging
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// The store for workers on several hosts: one PostgreSQL database they all share, through a
/// pool of connections (postgres-nio's `PostgresClient`). Same behaviour as the SQLite store;
/// `apply(batch:)` is one transaction, tried first without savepoints and, when a message keeps
/// nothing, again with a savepoint per message; each state change a compare-and-set on the
/// incident's version, due times claimed with `FOR UPDATE SKIP LOCKED`.
///
/// It is a `Service`: `run()` runs the connection pool, and calls wait for it. Add the store to
/// the worker's `ServiceGroup` before the services that use it (or use `withStore`).
///
/// When the server goes away, calls fail with `IncidentStoreError.unavailable` after waiting
/// `connectionWait` for a connection, while the pool keeps reconnecting with backoff; once the
/// server is back, calls succeed again. Wrong credentials or a missing database fail with
/// `.cannotOpen`, naming user, host and database.
public final class PostgresIncidentStore: IncidentStore, Service {
    public let configuration: PostgresIncidentStoreConfiguration
    let client: PostgresClient
    let logger: Logger
    let errors: ErrorTranslator
    private let running = Mutex(false)
    /// Whose relay publishes the messages this store writes (`unpublishedOutbox`).
    let outboxOwner = OutboxOwner()

    private init(configuration: PostgresIncidentStoreConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.errors = ErrorTranslator(configuration: configuration)
        self.client = PostgresClient(
            configuration: try Self.clientConfiguration(configuration), backgroundLogger: logger)
    }

    /// Connects once to check the server, the credentials and the database (clear errors at
    /// start-up instead of a pool retrying in the background), and brings the schema up to date.
    /// Then `run()` the store before using it.
    public static func connect(
        configuration: PostgresIncidentStoreConfiguration, logger: Logger
    ) async throws -> PostgresIncidentStore {
        try configuration.validate()
        let store = try PostgresIncidentStore(configuration: configuration, logger: logger)
        let connection = try await store.directConnection("connecting")
        do {
            let applied = try await Schema.migrate(connection, schema: configuration.schema, logger: logger)
            logger.debug(
                "store schema up to date",
                metadata: ["store": "\(configuration)", "migrations_applied": "\(applied)"])
        } catch {
            try? await connection.close()
            let translated = store.errors.translate(error, "bringing schema \(configuration.schema) up to date")
            if let failure = translated as? IncidentStoreError, failure.code == .databaseFailed {
                throw IncidentStoreError(
                    .migrationFailed,
                    "\(failure.message). Check that user \(configuration.username) may create tables in schema "
                        + "\(configuration.schema) of database \(configuration.database).")
            }
            throw translated
        }
        try? await connection.close()
        return store
    }

    /// Connects, runs the store while `body` uses it, and stops it when `body` returns.
    public static func withStore<Result: Sendable>(
        configuration: PostgresIncidentStoreConfiguration, logger: Logger,
        _ body: @Sendable (PostgresIncidentStore) async throws -> Result
    ) async throws -> Result {
        let store = try await connect(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            defer { group.cancelAll() }
            return try await body(store)
        }
    }

    /// Runs the connection pool until cancelled or until graceful shutdown.
    public func run() async {
        running.withLock { $0 = true }
        await client.run()
        running.withLock { $0 = false }
    }

    /// The database's clock: what claims compare due times with when `clock` is `.database`.
    /// A sweep sleeps `nextDueAt() - currentTime()`, so its own clock's skew does not matter.
    public func currentTime() async throws -> Timestamp {
        try await withConnection("reading the database's clock") { connection in
            let rows = try await connection.query("SELECT \(unescaped: databaseNowSQL)", logger: self.logger).collect()
            return Timestamp(millisecondsSinceEpoch: try rows[0].decode(Int64.self))
        }
    }

    // MARK: Apply

    public func apply(batch: [ApplyRequest]) async throws -> [Result<ApplyOutcome, any Error>] {
        guard !batch.isEmpty else { return [] }
        var results: [Result<ApplyOutcome, any Error>]
        do {
            // Each round trip to the database is the writer's time: first the whole batch as if
            // every message applied, the inbox and the incidents looked up once for all, no
            // savepoints (one round trip for a trigger instead of five the careful way).
            results = try await apply(batch, carefully: false)
        } catch is RolledBackMessage {
            // A message was processed already, or kept nothing (a conflict, a failure): the batch
            // again, each message looked up in the inbox and, with others, in a savepoint of its
            // own.
            do {
                results = try await apply(batch, carefully: true)
            } catch let rolledBack as RolledBackMessage {
                results = [rolledBack.result]
            }
        }
        for case (let request, .success(.conflict)) in zip(batch, results) {
            logger.debug("store conflict", metadata: ["message_id": "\(request.messageID)"])
        }
        return results
    }

    /// Applies the batch in one transaction. `carefully`: each message is looked up in the inbox
    /// first and, in a batch, kept or undone in a savepoint of its own. Otherwise the batch is
    /// looked up at once, and a message found there or keeping nothing throws
    /// `RolledBackMessage`: the whole transaction is rolled back.
    private func apply(_ batch: [ApplyRequest], carefully: Bool) async throws -> [Result<ApplyOutcome, any Error>] {
        let clock = configuration.clock
        let outbox = outboxOwner.transaction()
        defer { outbox.settle() }
        return try await transaction("applying \(batch.count) message(s)") { connection in
            let writer = Writer(connection: connection, logger: self.logger, clock: clock, outbox: outbox)
            var preloaded = PreloadedIncidents()
            if !carefully {
                let lookedUp = try await writer.lookUpBatch(
                    messageIDs: batch.map(\.messageID), lookups: batch.map(\.lookup))
                if lookedUp.inboxHoldsAny { throw RolledBackMessage(result: .success(.alreadyProcessed)) }
                preloaded = PreloadedIncidents(lookedUp.found)
            }
            var results: [Result<ApplyOutcome, any Error>] = []
            results.reserveCapacity(batch.count)
            for request in batch {
                results.append(
                    try await writer.applyOne(
                        request, lookingUpInbox: carefully, savepoint: carefully && batch.count > 1,
                        preloaded: &preloaded))
            }
            return results
        }
    }

    // MARK: Due times

    /// `now` is the caller's clock; with `clock: .database` the database's clock is used instead.
    public func claimDueTimes(now: Timestamp, lease: Duration, limit: Int) async throws -> [DueClaim] {
        guard limit > 0 else { return [] }
        let callerNow: Int64? = configuration.clock == .caller ? now.millisecondsSinceEpoch : nil
        let leaseMS = lease.milliseconds
        let rows = try await transaction("claiming due times") { connection in
            try await connection.query(
                """
                WITH clock AS MATERIALIZED (
                    SELECT COALESCE(\(callerNow)::bigint, \(unescaped: databaseNowSQL)) AS now_ms
                ), due AS (
                    SELECT d.incident_id, d.due_id FROM due_time d, clock
                    WHERE d.due_at <= clock.now_ms AND (d.claimed_until IS NULL OR d.claimed_until <= clock.now_ms)
                    ORDER BY d.due_at LIMIT \(limit)
                    FOR UPDATE OF d SKIP LOCKED
                )
                UPDATE due_time t SET claim_token = gen_random_uuid()::text,
                    claimed_until = (SELECT now_ms FROM clock) + \(leaseMS)::bigint
                FROM due WHERE t.incident_id = due.incident_id AND t.due_id = due.due_id
                RETURNING t.incident_id, t.due_id, t.due_at, t.claim_token, t.claimed_until
                """, logger: self.logger
            ).collect()
        }
        return try rows.map { row in
            let (incident, dueText, at, token, until) = try row.decode((String, String, Int64, String, Int64).self)
            return DueClaim(
                incident: IncidentID(incident), id: try Rows.dueID(dueText, of: incident),
                at: Timestamp(millisecondsSinceEpoch: at), token: token,
                leaseUntil: Timestamp(millisecondsSinceEpoch: until))
        }.sorted { ($0.at, $0.incident.rawValue, $0.id.description) < ($1.at, $1.incident.rawValue, $1.id.description) }
    }

    public func completeDueTime(_ claim: DueClaim) async throws -> Bool {
        try await !query(
            "completing due time \(claim.id) of incident \(claim.incident)",
            """
            DELETE FROM due_time
            WHERE incident_id = \(claim.incident.rawValue) AND due_id = \(claim.id.description) AND claim_token = \(claim.token)
            RETURNING 1
            """
        ).isEmpty
    }

    public func releaseDueTime(_ claim: DueClaim) async throws -> Bool {
        try await !query(
            "releasing due time \(claim.id) of incident \(claim.incident)",
            """
            UPDATE due_time SET claim_token = NULL, claimed_until = NULL
            WHERE incident_id = \(claim.incident.rawValue) AND due_id = \(claim.id.description) AND claim_token = \(claim.token)
            RETURNING 1
            """
        ).isEmpty
    }

    /// With `clock: .database` the time is on the database's clock (see `currentTime()`).
    /// Returns the batch as it is: PostgreSQL runs the transactions of several workers side by
    /// side, so a transition inside one holds nobody else up, while reading ahead would cost a
    /// round trip per message. A request that arrives prepared is still honoured by `apply`.
    public func prepare(_ batch: [ApplyRequest]) async throws -> [ApplyRequest] {
        batch
    }

    public func nextDueAt() async throws -> Timestamp? {
        let rows = try await query(
            "finding the next due time",
            """
            SELECT LEAST(
                (SELECT MIN(due_at) FROM due_time WHERE claimed_until IS NULL),
                (SELECT MIN(claimed_until) FROM due_time WHERE claimed_until IS NOT NULL))
            """)
        return try rows.first?.decode(Int64?.self).map(Timestamp.init(millisecondsSinceEpoch:))
    }

    public func dueTimes(of incident: IncidentID) async throws -> [ScheduledDueTime] {
        let rows = try await query(
            "reading the due times of incident \(incident)",
            """
            SELECT due_id, due_at, claimed_until FROM due_time WHERE incident_id = \(incident.rawValue)
            ORDER BY due_at, due_id COLLATE "C"
            """)
        return try rows.map { row in
            let (text, at, claimedUntil) = try row.decode((String, Int64, Int64?).self)
            return ScheduledDueTime(
                incident: incident, id: try Rows.dueID(text, of: incident.rawValue),
                at: Timestamp(millisecondsSinceEpoch: at),
                claimedUntil: claimedUntil.map(Timestamp.init(millisecondsSinceEpoch:)))
        }
    }

    // MARK: Outbox

    public func unpublishedOutbox(after: Int64, limit: Int, othersWrittenBefore: Timestamp) async throws -> [OutboxRecord] {
        try await query(
            "reading the outbox",
            """
            SELECT o.seq, o.incident_id, o.message_id, o.exchange, o.routing_key, o.properties, o.body, o.created_at,
                o.published_at
            FROM outbox o LEFT JOIN incident i ON i.id = o.incident_id
            WHERE o.published_at IS NULL AND o.seq > \(after)
                AND (i.outbox_owner IS NULL OR i.outbox_owner = \(outboxOwner.name)
                    OR i.outbox_owned_at < \(othersWrittenBefore.millisecondsSinceEpoch))
            ORDER BY o.seq LIMIT \(limit)
            """
        ).map(Rows.outbox)
    }

    public func outboxTakeoverBaseline() -> Int { outboxOwner.baseline() }

    public func outboxTakeovers(since baseline: Int) -> Set<IncidentID> { outboxOwner.incidentsTakenOver(since: baseline) }

    public func markPublished(_ sequences: [Int64], at: Timestamp) async throws {
        guard !sequences.isEmpty else { return }
        try await query(
            "marking \(sequences.count) outbox rows published",
            """
            UPDATE outbox SET published_at = \(at.millisecondsSinceEpoch)
            WHERE seq = ANY(\(sequences)) AND published_at IS NULL
            """)
    }

    // MARK: Queries

    public func incident(_ lookup: IncidentLookup) async throws -> StoredIncident? {
        try await withConnection("reading \(lookup)") { connection in
            try await Writer(connection: connection, logger: self.logger, clock: self.configuration.clock)
                .loadIncident(lookup)
        }
    }

    public func openIncidents() async throws -> [StoredIncident] {
        try await query(
            "reading the open incidents",
            "SELECT id, state, version FROM incident WHERE resolved_at IS NULL ORDER BY opened_at, id COLLATE \"C\""
        ).map(Rows.incident)
    }

    public func recentIncidents(limit: Int) async throws -> [StoredIncident] {
        try await query(
            "reading the incidents",
            """
            SELECT id, state, version FROM (
                SELECT id, state, version, opened_at FROM incident ORDER BY opened_at DESC, id COLLATE "C" DESC LIMIT \(max(0, limit))
            ) AS recent ORDER BY opened_at, id COLLATE "C"
            """
        ).map(Rows.incident)
    }

    public func timeline(of incident: IncidentID) async throws -> [TimelineRecord] {
        try await query(
            "reading the timeline of incident \(incident)",
            """
            SELECT seq, incident_id, at, kind, department, contact, channel, reference, since_first_page_ms,
                   summary, detail
            FROM timeline WHERE incident_id = \(incident.rawValue) ORDER BY at, seq
            """
        ).map(Rows.timeline)
    }

    public func parcels(of incident: IncidentID) async throws -> [AffectedParcel] {
        try await withConnection("reading the parcels of incident \(incident)") { connection in
            try await Writer(connection: connection, logger: self.logger, clock: self.configuration.clock)
                .loadParcels(incident)
        }
    }

    public func ackStatistics(_ query: AckStatisticsQuery) async throws -> [AckStatistic] {
        var bindings = PostgresBindings()
        var conditions = ["t.kind = $1", "t.since_first_page_ms IS NOT NULL", "t.department IS NOT NULL"]
        bindings.append(TimelineKind.acknowledged.rawValue)
        func filter<Value: PostgresDynamicTypeEncodable>(_ condition: String, _ value: Value?) {
            guard let value else { return }
            bindings.append(value)
            conditions.append(condition.replacingOccurrences(of: "?", with: "$\(bindings.count)"))
        }
        filter("t.at >= ?", query.from?.millisecondsSinceEpoch)
        filter("t.at < ?", query.until?.millisecondsSinceEpoch)
        filter("i.type = ?", query.type?.rawValue)
        filter("t.incident_id = ?", query.incident?.rawValue)
        switch query.drills {
        case .excluded: conditions.append("NOT i.drill")
        case .only: conditions.append("i.drill")
        case .included: break
        }
        let condition = conditions.joined(separator: " AND ")
        let sql = """
            SELECT department, contact, n, fastest, slowest, mean FROM (
                SELECT t.department AS department, NULL::text AS contact, COUNT(*) AS n,
                       MIN(t.since_first_page_ms) AS fastest, MAX(t.since_first_page_ms) AS slowest,
                       AVG(t.since_first_page_ms)::float8 AS mean
                FROM timeline t JOIN incident i ON i.id = t.incident_id WHERE \(condition) GROUP BY t.department
                UNION ALL
                SELECT t.department, t.contact, COUNT(*),
                       MIN(t.since_first_page_ms), MAX(t.since_first_page_ms), AVG(t.since_first_page_ms)::float8
                FROM timeline t JOIN incident i ON i.id = t.incident_id WHERE \(condition) AND t.contact IS NOT NULL
                GROUP BY t.department, t.contact
            ) statistics ORDER BY department COLLATE "C", contact IS NOT NULL, contact COLLATE "C"
            """
        return try await self.query("computing ack statistics", PostgresQuery(unsafeSQL: sql, binds: bindings)).map {
            row in
            let (department, contact, count, fastest, slowest, mean) = try row.decode(
                (String, String?, Int64, Int64, Int64, Double).self)
            return AckStatistic(
                department: DepartmentID(department), contact: contact.map(ContactID.init(rawValue:)),
                acknowledgements: Int(count), fastest: .milliseconds(fastest), slowest: .milliseconds(slowest),
                mean: .milliseconds(Int64(mean.rounded())))
        }
    }

    // MARK: Retention

    public func prune(resolvedBefore: Timestamp) async throws -> PruneSummary {
        let cutoff = resolvedBefore.millisecondsSinceEpoch
        let rows = try await transaction("pruning rows of incidents resolved before \(resolvedBefore)") { connection in
            try await connection.query(
                """
                WITH resolved AS (
                    SELECT id FROM incident WHERE resolved_at IS NOT NULL AND resolved_at < \(cutoff)
                ), inbox_rows AS (
                    DELETE FROM inbox
                    WHERE processed_at < \(cutoff) AND (incident_id IS NULL OR incident_id IN (SELECT id FROM resolved))
                    RETURNING 1
                ), outbox_rows AS (
                    -- Rows up to the first written at or after the cutoff (see migration 3).
                    DELETE FROM outbox
                    WHERE seq < COALESCE(
                            (SELECT seq FROM outbox WHERE created_at >= \(cutoff) ORDER BY seq LIMIT 1),
                            (SELECT max(seq) FROM outbox) + 1)
                        AND published_at IS NOT NULL AND incident_id IN (SELECT id FROM resolved)
                    RETURNING 1
                )
                SELECT (SELECT COUNT(*) FROM inbox_rows), (SELECT COUNT(*) FROM outbox_rows)
                """, logger: self.logger
            ).collect()
        }
        let (inbox, outbox) = try rows[0].decode((Int64, Int64).self)
        return PruneSummary(inboxRows: Int(inbox), outboxRows: Int(outbox))
    }

    // MARK: Connections

    static func clientConfiguration(_ configuration: PostgresIncidentStoreConfiguration) throws
        -> PostgresClient.Configuration
    {
        let tls: PostgresClient.Configuration.TLS
        switch (configuration.tls, configuration.tlsConfiguration) {
        case (.prefer, let settings?): tls = .prefer(settings)
        case (_, let settings?): tls = .require(settings)
        case (_, nil): tls = .disable
        }
        var client = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: tls)
        client.options.maximumConnections = configuration.maximumConnections
        client.options.connectTimeout = configuration.connectionWait
        client.options.additionalStartupParameters = Self.startupParameters(configuration)
        return client
    }

    /// Every connection finds the store's tables in its schema.
    static func startupParameters(_ configuration: PostgresIncidentStoreConfiguration) -> [(String, String)] {
        [("search_path", configuration.schema), ("application_name", "escalator")]
    }

    /// One connection outside the pool: at start-up, and to find out why the pool has none.
    func directConnection(_ doing: String) async throws -> PostgresConnection {
        do {
            let tls: PostgresConnection.Configuration.TLS
            switch (configuration.tls, configuration.tlsConfiguration) {
            case (.prefer, let settings?): tls = .prefer(try NIOSSLContext(configuration: settings))
            case (_, let settings?): tls = .require(try NIOSSLContext(configuration: settings))
            case (_, nil): tls = .disable
            }
            var connection = PostgresConnection.Configuration(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: tls)
            connection.options.connectTimeout = .milliseconds(configuration.connectionWait.milliseconds)
            connection.options.additionalStartupParameters = Self.startupParameters(configuration)
            return try await PostgresConnection.connect(configuration: connection, id: 0, logger: logger)
        } catch {
            throw errors.translate(error, doing)
        }
    }

    /// Leases a pooled connection for `body`. Waits at most `connectionWait` for one (the pool
    /// retries in the background while the server is away; a store not yet running gets none)
    /// and then says why it got none.
    func withConnection<T: Sendable>(
        _ doing: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let lease = LeaseRace<T>()
        do {
            // The lease runs in a task of its own, which this call does not wait for once it gave
            // up: a lease that misses its cancellation (the pool's request registered just after
            // it) keeps waiting for a connection, and hands it back unused when one comes.
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    lease.start(continuation) {
                        try await self.client.withConnection { connection -> T? in
                            guard lease.leased() else { return nil }
                            // On the connection's own thread: each reply resumes the work where
                            // it arrived, instead of waking another thread for every round trip.
                            return try await withTaskExecutorPreference(EventLoopTaskExecutor(connection.eventLoop)) {
                                try await body(connection)
                            }
                        }
                    }
                    lease.giveUp(after: self.configuration.connectionWait, with: NoConnectionInTime())
                }
            } onCancel: {
                lease.giveUpUnlessLeased(CancellationError())
            }
        } catch is NoConnectionInTime {
            guard running.withLock({ $0 }) else {
                throw IncidentStoreError(
                    .internalError,
                    "the PostgreSQL store is not running while \(doing): run it (add it to the worker's ServiceGroup, "
                        + "or use PostgresIncidentStore.withStore) before using it.")
            }
            throw await whyUnavailable(
                doing,
                otherwise: IncidentStoreError(
                    .unavailable,
                    "no connection to PostgreSQL at \(configuration.endpoint) became free within "
                        + "\(configuration.connectionWait) while \(doing) (all \(configuration.maximumConnections) busy); "
                        + "retry, or allow more connections"))
        } catch {
            let translated = errors.translate(error, doing)
            if let failure = translated as? IncidentStoreError, failure.code == .unavailable {
                throw await whyUnavailable(doing, otherwise: failure)
            }
            throw translated
        }
    }

    /// Connects once, directly, to tell "connection refused" from "wrong password" when the
    /// pool has no connection or lost one; `otherwise` when the server answers.
    private func whyUnavailable(_ doing: String, otherwise: IncidentStoreError) async -> any Error {
        do {
            let connection = try await directConnection(doing)
            try? await connection.close()
            return otherwise
        } catch {
            return error
        }
    }

    func transaction<T: Sendable>(
        _ doing: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection(doing) { connection in
            try await connection.query("BEGIN", logger: self.logger)
            do {
                let value = try await body(connection)
                try await connection.query("COMMIT", logger: self.logger)
                return value
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: self.logger)
                throw error
            }
        }
    }

    @discardableResult
    func query(_ doing: String, _ query: PostgresQuery) async throws -> [PostgresRow] {
        try await withConnection(doing) { connection in
            try await connection.query(query, logger: self.logger).collect()
        }
    }
}

private struct NoConnectionInTime: Error {}

/// A connection lease raced against the time the caller waits for one: whichever comes first
/// answers the caller, once. Given up, a lease that comes later runs nothing.
private final class LeaseRace<T: Sendable>: Sendable {
    private enum Phase {
        case waiting(CheckedContinuation<T, any Error>?)
        case leased(CheckedContinuation<T, any Error>?)
        case done
    }

    private let phase = Mutex(Phase.waiting(nil))
    private let task = Mutex<Task<Void, Never>?>(nil)
    private let timer = Mutex<Task<Void, Never>?>(nil)

    /// Starts the lease; its result (nil: given up before it came) answers `continuation`. A
    /// caller cancelled already gets `CancellationError` without a lease.
    func start(_ continuation: CheckedContinuation<T, any Error>, lease: @escaping @Sendable () async throws -> T?) {
        let proceed = phase.withLock { phase in
            if case .done = phase { return false }
            phase = .waiting(continuation)
            return true
        }
        guard proceed else {
            continuation.resume(throwing: CancellationError())
            return
        }
        let started = Task {
            do {
                if let value = try await lease() { self.finish(.success(value)) }
            } catch {
                self.finish(.failure(error))
            }
        }
        task.withLock { $0 = started }
    }

    /// Gives up with `error` after `wait`, unless a connection came by then.
    func giveUp(after wait: Duration, with error: any Error) {
        let started = Task {
            do {
                try await Task.sleep(for: wait)
            } catch {
                return  // the lease finished first
            }
            self.giveUpUnlessLeased(error)
        }
        timer.withLock { $0 = started }
    }

    /// Called with the connection in hand: false when the caller gave up already.
    func leased() -> Bool {
        phase.withLock { phase in
            guard case .waiting(let continuation) = phase else { return false }
            phase = .leased(continuation)
            return true
        }
    }

    /// Answers the caller with `error` and cancels the lease, unless a connection came first.
    func giveUpUnlessLeased(_ error: any Error) {
        let continuation: CheckedContinuation<T, any Error>? = phase.withLock { phase in
            guard case .waiting(let continuation) = phase else { return nil }
            phase = .done
            return continuation
        }
        guard let continuation else { return }
        task.withLock { $0 }?.cancel()
        continuation.resume(throwing: error)
    }

    private func finish(_ result: Result<T, any Error>) {
        let continuation: CheckedContinuation<T, any Error>? = phase.withLock { phase in
            switch phase {
            case .waiting(let continuation), .leased(let continuation):
                phase = .done
                return continuation
            case .done:
                return nil
            }
        }
        timer.withLock { $0 }?.cancel()
        continuation?.resume(with: result)
    }
}

extension PostgresIncidentStoreConfiguration {
    /// What the client checks of the server's certificate, as libpq does for the same `sslmode`
    /// and `sslrootcert`; nil without TLS.
    var tlsConfiguration: TLSConfiguration? {
        guard tls != .disable else { return nil }
        var settings = TLSConfiguration.makeClientConfiguration()
        if let rootCertificatePath { settings.trustRoots = .file(rootCertificatePath) }
        switch tls {
        case .disable, .prefer, .require:
            settings.certificateVerification = rootCertificatePath == nil ? .none : .noHostnameVerification
        case .verifyCA: settings.certificateVerification = .noHostnameVerification
        case .verifyFull: settings.certificateVerification = .fullVerification
        }
        return settings
    }
}

/// Runs a task's jobs on one NIO event loop: a task awaiting that loop's replies then continues
/// on the thread that received them.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
