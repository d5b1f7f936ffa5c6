import GRDB

/// The store's schema. Migrations are applied in order and never edited once released: add a
/// new one instead.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: incidents, inbox, due times, outbox, timeline, parcels") { db in
            try db.execute(
                sql: """
                    CREATE TABLE incident (
                        id TEXT PRIMARY KEY NOT NULL,
                        incident_key TEXT NOT NULL,
                        type TEXT NOT NULL,
                        severity INTEGER NOT NULL,
                        title TEXT NOT NULL,
                        drill INTEGER NOT NULL,
                        opened_at INTEGER NOT NULL,
                        resolved_at INTEGER,
                        state BLOB NOT NULL,
                        version INTEGER NOT NULL
                    );
                    -- One open incident per key; a resolved key may open a new one.
                    CREATE UNIQUE INDEX incident_open_key ON incident(incident_key) WHERE resolved_at IS NULL;
                    CREATE INDEX incident_key_opened ON incident(incident_key, opened_at);
                    CREATE INDEX incident_resolved_at ON incident(resolved_at) WHERE resolved_at IS NOT NULL;

                    CREATE TABLE inbox (
                        message_id TEXT PRIMARY KEY NOT NULL,
                        incident_id TEXT,
                        processed_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX inbox_incident ON inbox(incident_id);

                    CREATE TABLE due_time (
                        incident_id TEXT NOT NULL,
                        due_id TEXT NOT NULL,
                        due_at INTEGER NOT NULL,
                        claim_token TEXT,
                        claimed_until INTEGER,
                        PRIMARY KEY (incident_id, due_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX due_time_at ON due_time(due_at);

                    CREATE TABLE outbox (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        message_id TEXT NOT NULL UNIQUE,
                        incident_id TEXT,
                        exchange TEXT NOT NULL,
                        routing_key TEXT NOT NULL,
                        properties TEXT NOT NULL,
                        body BLOB NOT NULL,
                        created_at INTEGER NOT NULL,
                        published_at INTEGER
                    );
                    CREATE INDEX outbox_unpublished ON outbox(seq) WHERE published_at IS NULL;
                    CREATE INDEX outbox_incident ON outbox(incident_id);

                    CREATE TABLE timeline (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        incident_id TEXT NOT NULL,
                        at INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        department TEXT,
                        contact TEXT,
                        channel TEXT,
                        reference TEXT,
                        since_first_page_ms INTEGER,
                        summary TEXT NOT NULL,
                        detail TEXT NOT NULL
                    );
                    CREATE INDEX timeline_incident ON timeline(incident_id, at, seq);
                    CREATE INDEX timeline_kind_at ON timeline(kind, at);

                    CREATE TABLE parcel (
                        incident_id TEXT NOT NULL,
                        waybill TEXT NOT NULL,
                        customer_id TEXT NOT NULL,
                        locale TEXT,
                        PRIMARY KEY (incident_id, waybill)
                    );

                    CREATE TABLE parcel_notice (
                        incident_id TEXT NOT NULL,
                        waybill TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        sent_at INTEGER NOT NULL,
                        PRIMARY KEY (incident_id, waybill, kind)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2: due times findable by when they become claimable") { db in
            // `nextDueAt()` and claims ask for the earliest unclaimed due time and the earliest lease
            // end: one partial index each, instead of a scan of every due time. Nothing reads
            // `due_time_at` after them; every write would still have to update it.
            try db.execute(
                sql: """
                    CREATE INDEX due_time_unclaimed ON due_time(due_at) WHERE claimed_until IS NULL;
                    CREATE INDEX due_time_claimed ON due_time(claimed_until) WHERE claimed_until IS NOT NULL;
                    DROP INDEX due_time_at;
                    """)
        }
        migrator.registerMigration("v3: inbox and outbox indexed by time, not by incident") { db in
            // Only pruning read the indexes by incident, and every message paid for them: incident
            // ids are hashes, so each new row dirtied a page of each index somewhere in the file,
            // and every commit wrote those pages to the log. Pruning now finds old rows by time:
            // the inbox by an index whose new entries all land on its last page, the outbox by
            // its sequence, which follows time.
            try db.execute(
                sql: """
                    DROP INDEX inbox_incident;
                    CREATE INDEX inbox_processed_at ON inbox(processed_at);
                    DROP INDEX outbox_incident;
                    """)
        }
        migrator.registerMigration("v4: each incident's unpublished messages belong to one relay") { db in
            // The store (worker) that last wrote an incident's messages publishes them; other
            // workers' relays take them over only once the incident's newest are old (see
            // `unpublishedOutbox`), so workers side by side do not each publish every message.
            // NULL owner: any relay's.
            try db.execute(
                sql: """
                    ALTER TABLE incident ADD COLUMN outbox_owner TEXT;
                    ALTER TABLE incident ADD COLUMN outbox_owned_at INTEGER;
                    """)
        }
        migrator.registerMigration("v5: an incident's rows keyed by its number, which follows time") { db in
            // Incident ids are hashes: each due time, timeline row and message keyed by one went to
            // a page anywhere in its index, and every commit wrote each such page to the log again.
            // Keyed by the incident's number, which grows with every incident opened, a batch's new
            // rows share the last pages of each index (the worker benchmark's backlog: 55 → 43 µs
            // of worker CPU per message). The number is an INTEGER PRIMARY KEY: VACUUM may renumber
            // a plain rowid, never that.
            let lastOutboxSequence = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
            try db.execute(
                sql: """
                    CREATE TABLE incident_v5 (
                        number INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        incident_key TEXT NOT NULL,
                        type TEXT NOT NULL,
                        severity INTEGER NOT NULL,
                        title TEXT NOT NULL,
                        drill INTEGER NOT NULL,
                        opened_at INTEGER NOT NULL,
                        resolved_at INTEGER,
                        state BLOB NOT NULL,
                        version INTEGER NOT NULL,
                        outbox_owner TEXT,
                        outbox_owned_at INTEGER
                    );
                    INSERT INTO incident_v5 (number, id, incident_key, type, severity, title, drill, opened_at, resolved_at,
                            state, version, outbox_owner, outbox_owned_at)
                        SELECT rowid, id, incident_key, type, severity, title, drill, opened_at, resolved_at,
                            state, version, outbox_owner, outbox_owned_at
                        FROM incident ORDER BY rowid;
                    DROP TABLE incident;
                    ALTER TABLE incident_v5 RENAME TO incident;
                    CREATE UNIQUE INDEX incident_open_key ON incident(incident_key) WHERE resolved_at IS NULL;
                    CREATE INDEX incident_key_opened ON incident(incident_key, opened_at);
                    CREATE INDEX incident_resolved_at ON incident(resolved_at) WHERE resolved_at IS NOT NULL;

                    CREATE TABLE due_time_v5 (
                        incident_number INTEGER NOT NULL,
                        due_id TEXT NOT NULL,
                        due_at INTEGER NOT NULL,
                        claim_token TEXT,
                        claimed_until INTEGER,
                        PRIMARY KEY (incident_number, due_id)
                    ) WITHOUT ROWID;
                    INSERT INTO due_time_v5 (incident_number, due_id, due_at, claim_token, claimed_until)
                        SELECT i.number, d.due_id, d.due_at, d.claim_token, d.claimed_until
                        FROM due_time d JOIN incident i ON i.id = d.incident_id;
                    DROP TABLE due_time;
                    ALTER TABLE due_time_v5 RENAME TO due_time;
                    CREATE INDEX due_time_unclaimed ON due_time(due_at) WHERE claimed_until IS NULL;
                    CREATE INDEX due_time_claimed ON due_time(claimed_until) WHERE claimed_until IS NOT NULL;

                    ALTER TABLE timeline ADD COLUMN incident_number INTEGER;
                    UPDATE timeline SET incident_number = (SELECT number FROM incident WHERE id = timeline.incident_id);
                    DROP INDEX timeline_incident;
                    CREATE INDEX timeline_incident_number ON timeline(incident_number, at, seq);

                    -- A message id names its incident, so one per incident is one in all.
                    CREATE TABLE outbox_v5 (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        message_id TEXT NOT NULL,
                        incident_id TEXT,
                        incident_number INTEGER,
                        exchange TEXT NOT NULL,
                        routing_key TEXT NOT NULL,
                        properties TEXT NOT NULL,
                        body BLOB NOT NULL,
                        created_at INTEGER NOT NULL,
                        published_at INTEGER
                    );
                    INSERT INTO outbox_v5 (seq, message_id, incident_id, incident_number, exchange, routing_key, properties,
                            body, created_at, published_at)
                        SELECT o.seq, o.message_id, o.incident_id, i.number, o.exchange, o.routing_key, o.properties,
                            o.body, o.created_at, o.published_at
                        FROM outbox o LEFT JOIN incident i ON i.id = o.incident_id ORDER BY o.seq;
                    """)
            // Sequences go on from where the old table's stopped, even when its last rows were pruned.
            if let lastOutboxSequence {
                try db.execute(
                    sql: """
                        DELETE FROM sqlite_sequence WHERE name = 'outbox_v5';
                        INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox_v5', ?);
                        """,
                    arguments: [lastOutboxSequence])
            }
            try db.execute(
                sql: """
                    DROP TABLE outbox;
                    ALTER TABLE outbox_v5 RENAME TO outbox;
                    CREATE UNIQUE INDEX outbox_message ON outbox(incident_number, message_id);
                    CREATE INDEX outbox_unpublished ON outbox(seq) WHERE published_at IS NULL;
                    """)
        }
        return migrator
    }
}
