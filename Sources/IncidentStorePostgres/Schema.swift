import IncidentStore
import Logging
import PostgresNIO

/// The store's schema, as numbered migrations. Applied in order at start-up, each in the
/// transaction that records it, under an advisory lock so workers starting together do not race.
/// Never edit a released migration: add one.
enum Schema {
    struct Migration: Sendable {
        var version: Int
        var name: String
        var statements: [String]
    }

    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "incidents, inbox, due times, outbox, timeline, parcels",
            statements: [
                """
                CREATE TABLE incident (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY,
                    id TEXT PRIMARY KEY,
                    incident_key TEXT NOT NULL,
                    type TEXT NOT NULL,
                    severity INTEGER NOT NULL,
                    title TEXT NOT NULL,
                    drill BOOLEAN NOT NULL,
                    opened_at BIGINT NOT NULL,
                    resolved_at BIGINT,
                    state BYTEA NOT NULL,
                    version BIGINT NOT NULL
                )
                """,
                // One open incident per key; a resolved key may open a new one.
                "CREATE UNIQUE INDEX incident_open_key ON incident (incident_key) WHERE resolved_at IS NULL",
                "CREATE INDEX incident_key_opened ON incident (incident_key, opened_at)",
                "CREATE INDEX incident_resolved_at ON incident (resolved_at) WHERE resolved_at IS NOT NULL",
                """
                CREATE TABLE inbox (
                    message_id TEXT PRIMARY KEY,
                    incident_id TEXT,
                    processed_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX inbox_incident ON inbox (incident_id)",
                """
                CREATE TABLE due_time (
                    incident_id TEXT NOT NULL,
                    due_id TEXT NOT NULL,
                    due_at BIGINT NOT NULL,
                    claim_token TEXT,
                    claimed_until BIGINT,
                    PRIMARY KEY (incident_id, due_id)
                )
                """,
                "CREATE INDEX due_time_at ON due_time (due_at)",
                """
                CREATE TABLE outbox (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    message_id TEXT NOT NULL UNIQUE,
                    incident_id TEXT,
                    exchange TEXT NOT NULL,
                    routing_key TEXT NOT NULL,
                    properties TEXT NOT NULL,
                    body BYTEA NOT NULL,
                    created_at BIGINT NOT NULL,
                    published_at BIGINT
                )
                """,
                "CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL",
                "CREATE INDEX outbox_incident ON outbox (incident_id)",
                """
                CREATE TABLE timeline (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    incident_id TEXT NOT NULL,
                    at BIGINT NOT NULL,
                    kind TEXT NOT NULL,
                    department TEXT,
                    contact TEXT,
                    channel TEXT,
                    reference TEXT,
                    since_first_page_ms BIGINT,
                    summary TEXT NOT NULL,
                    detail TEXT NOT NULL
                )
                """,
                "CREATE INDEX timeline_incident ON timeline (incident_id, at, seq)",
                "CREATE INDEX timeline_kind_at ON timeline (kind, at)",
                """
                CREATE TABLE parcel (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY,
                    incident_id TEXT NOT NULL,
                    waybill TEXT NOT NULL,
                    customer_id TEXT NOT NULL,
                    locale TEXT,
                    PRIMARY KEY (incident_id, waybill)
                )
                """,
                """
                CREATE TABLE parcel_notice (
                    incident_id TEXT NOT NULL,
                    waybill TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    sent_at BIGINT NOT NULL,
                    PRIMARY KEY (incident_id, waybill, kind)
                )
                """,
            ]),
        Migration(
            version: 2, name: "due times findable by when they become claimable",
            statements: [
                // `nextDueAt()` asks for the earliest unclaimed due time and the earliest lease end:
                // one partial index each, instead of a scan of every due time.
                "CREATE INDEX due_time_unclaimed ON due_time (due_at) WHERE claimed_until IS NULL",
                "CREATE INDEX due_time_claimed ON due_time (claimed_until) WHERE claimed_until IS NOT NULL",
            ]),
        Migration(
            version: 3, name: "inbox and outbox indexed by time, not by incident",
            statements: [
                // Only pruning read the indexes by incident, and every message paid for them:
                // incident ids are hashes, so each new row touched a page of each index anywhere.
                // Pruning finds old rows by time instead: the inbox by when it processed the
                // message, the outbox by its sequence, which follows time.
                "DROP INDEX inbox_incident",
                "CREATE INDEX inbox_processed_at ON inbox (processed_at)",
                "DROP INDEX outbox_incident",
            ]),
        Migration(
            version: 4, name: "each incident's unpublished messages belong to one relay",
            statements: [
                // The store (worker) that last wrote an incident's messages publishes them; other
                // workers' relays take them over only once the incident's newest are old (see
                // `unpublishedOutbox`), so workers side by side do not each publish every message.
                // NULL owner: any relay's.
                "ALTER TABLE incident ADD COLUMN outbox_owner TEXT",
                "ALTER TABLE incident ADD COLUMN outbox_owned_at BIGINT",
            ]),
    ]

    /// Creates the schema when missing and applies the migrations it lacks, in one transaction
    /// holding an advisory lock keyed on the schema's name. Returns the versions applied now.
    static func migrate(
        _ connection: PostgresConnection, schema: String, logger: Logger, migrations: [Migration] = Schema.migrations
    ) async throws -> [Int] {
        try await connection.query("BEGIN", logger: logger)
        do {
            let lockName = "escalator-store-migrations:\(schema)"
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(lockName)))", logger: logger)
            // The name was checked to be a plain identifier (configuration).
            try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS \(unescaped: schema).schema_migration (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger: logger)
            var applied = Set<Int>()
            for try await version in try await connection.query(
                "SELECT version FROM \(unescaped: schema).schema_migration", logger: logger
            ).decode(Int.self) {
                applied.insert(version)
            }
            if let newest = applied.max(), let known = migrations.map(\.version).max(), newest > known {
                throw IncidentStoreError(
                    .migrationFailed,
                    "schema \(schema) is at version \(newest), newer than this Escalator knows (\(known)); "
                        + "run the version of Escalator that wrote it, or a newer one.")
            }
            var appliedNow: [Int] = []
            for migration in migrations where !applied.contains(migration.version) {
                try await connection.query("SET LOCAL search_path TO \(unescaped: schema)", logger: logger)
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO \(unescaped: schema).schema_migration (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger)
                appliedNow.append(migration.version)
                logger.info(
                    "store migration applied",
                    metadata: ["schema": "\(schema)", "version": "\(migration.version)", "name": "\(migration.name)"])
            }
            try await connection.query("COMMIT", logger: logger)
            return appliedNow
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }
}
