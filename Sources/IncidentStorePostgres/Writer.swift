import CallTree
import Foundation
import IncidentStore
import Logging
import PostgresNIO

/// An error of one message of a batch (its transition, its hook, its changes): rolls back that
/// message's savepoint only.
private struct MessageFailure: Error {
    var underlying: any Error
}

/// One message's rows as JSON, unpacked by `Writer.writeRows` (snake_case keys, as the SQL
/// reads them; absent keys are NULL).
struct RowsJSON: Encodable {
    struct Due: Encodable {
        var due_id: String
        var due_at: Int64
    }

    struct TimelineRow: Encodable {
        var at: Int64
        var kind: String
        var department, contact, channel, reference: String?
        var since_first_page_ms: Int64?
        var summary: String
        var detail: String

        init(_ item: TimelineItem) {
            at = item.at.millisecondsSinceEpoch
            kind = item.kind.rawValue
            department = item.department?.rawValue
            contact = item.contact?.rawValue
            channel = item.channel
            reference = item.reference
            since_first_page_ms = item.sinceFirstPage?.milliseconds
            summary = item.summary
            detail = StoredText.encode(item.detail)
        }
    }

    struct OutboxRow: Encodable {
        var message_id, exchange, routing_key, properties: String
        /// Base64, as JSONEncoder writes `Data`.
        var body: Data

        init(_ message: OutboxMessage) {
            message_id = message.messageID
            exchange = message.exchange
            routing_key = message.routingKey
            properties = StoredText.encode(message.properties)
            body = message.body
        }
    }

    struct ParcelRow: Encodable {
        var waybill, customer_id: String
        var locale: String?
    }

    struct Notice: Encodable {
        var waybill, kind: String
    }

    var schedule: [Due]
    var timeline: [TimelineRow]
    var outbox: [OutboxRow]
    var parcels: [ParcelRow]
    var notices: [Notice]

    func encoded() throws -> String {
        String(decoding: try Self.encoder.encode(self), as: UTF8.self)
    }

    /// Shared: its options never change, and encoding does not mutate it.
    private static let encoder = JSONEncoder()
}

/// The database's clock in milliseconds since the epoch, read when the statement runs.
let databaseNowSQL = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

/// The statements of one message's write, inside the batch's transaction on one connection.
struct Writer {
    let connection: PostgresConnection
    let logger: Logger
    let clock: PostgresIncidentStoreConfiguration.Clock
    /// Who publishes the messages written here (`incident.outbox_owner`); nil when only reading.
    var outbox: OutboxOwner.Transaction? = nil

    /// Runs one statement and collects its rows on the connection's event loop, where the work
    /// itself runs (`withConnection`): one await per statement instead of one per row batch.
    @discardableResult
    func run(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let result: EventLoopFuture<PostgresQueryResult> = connection.query(query, logger: logger)
        return try await result.get().rows
    }

    /// Applies one message. In a batch (`savepoint`) a conflict or failure rolls back this
    /// message's savepoint only. Without one, it saves the savepoint's two round trips: a
    /// conflict or failure throws `RolledBackMessage`, and the caller rolls the whole transaction
    /// back. Without `lookingUpInbox` (the caller looked the batch up), a message processed since
    /// is found by its inbox id's unique violation, a conflict.
    func applyOne(_ request: ApplyRequest, lookingUpInbox: Bool = true, savepoint: Bool) async throws
        -> Result<ApplyOutcome, any Error>
    {
        if lookingUpInbox, try await inboxContains(request.messageID) {
            // The due time fired and took effect already (a lapsed lease let a second worker
            // claim it): it is done either way.
            if let claim = request.completing { try await deleteFired(claim) }
            return .success(.alreadyProcessed)
        }
        if savepoint { try await run("SAVEPOINT message") }
        let result: Result<ApplyOutcome, any Error>
        do {
            result = .success(try await write(request))
        } catch let failure as MessageFailure {
            result = .failure(failure.underlying)
        } catch where ErrorTranslator.isUniqueViolation(error) || ErrorTranslator.isRetryableConflict(error) {
            // Another writer opened the key, recorded the message, or locked rows in the
            // opposite order first: applied again, the message sees what it did.
            result = .success(.conflict)
        }
        if case .success(.applied) = result {
            if savepoint { try await run("RELEASE SAVEPOINT message") }
            return result
        }
        guard savepoint else { throw RolledBackMessage(result: result) }
        try await run("ROLLBACK TO SAVEPOINT message")
        try await run("RELEASE SAVEPOINT message")
        return result
    }

    private func write(_ request: ApplyRequest) async throws -> ApplyOutcome {
        let current: StoredIncident?
        let currentOwner: String?
        do {
            (current, currentOwner) = try await loadIncidentAndOwner(request.lookup)
        } catch let error as IncidentStoreError {
            throw MessageFailure(underlying: error)
        }
        let changes: IncidentChanges
        let encodedState: Data?
        if let reused = request.preparedChanges(for: current?.basis) {
            (changes, encodedState) = reused
        } else {
            let parcels: [AffectedParcel]
            do {
                if request.includeParcels, let current {
                    parcels = try await loadParcels(current.id)
                } else {
                    parcels = []
                }
            } catch let error as IncidentStoreError {
                throw MessageFailure(underlying: error)
            }
            do {
                (changes, encodedState) = try request.workedOut(against: current, parcels: parcels)
            } catch {
                throw MessageFailure(underlying: error)
            }
        }

        var incident = current?.id
        var version = current?.version
        var opened = false
        // Since when never goes back: another relay must not find the incident's messages old
        // all at once.
        let ownership = outbox?.ownership(of: changes, at: request.at, found: current.map { ($0.id, currentOwner) })
        let (owner, ownedAt) = (ownership?.owner, ownership?.since)
        if let state = changes.state, let encoded = encodedState {
            let resolvedAt = state.resolution?.at.millisecondsSinceEpoch
            if let current, current.id == state.id {
                let updated = try await run(
                    """
                    UPDATE incident SET type = \(state.type.rawValue), severity = \(state.severity.rawValue),
                        title = \(state.title), drill = \(state.drill), resolved_at = \(resolvedAt), state = \(encoded),
                        outbox_owner = COALESCE(\(owner), outbox_owner),
                        outbox_owned_at = GREATEST(outbox_owned_at, \(ownedAt)), version = version + 1
                    WHERE id = \(state.id.rawValue) AND version = \(current.version)
                    RETURNING version
                    """)
                if updated.isEmpty { return .conflict }
                version = current.version + 1
            } else {
                if let current, !current.isResolved {
                    throw MessageFailure(
                        underlying: IncidentStoreError.openedOverOpenIncident(
                            message: request.messageID, opened: state, open: current.id))
                }
                // A unique violation (another writer opened the key or the id first) is a conflict.
                try await run(
                    """
                    INSERT INTO incident (id, incident_key, type, severity, title, drill, opened_at, resolved_at,
                        state, outbox_owner, outbox_owned_at, version)
                    VALUES (\(state.id.rawValue), \(state.key), \(state.type.rawValue), \(state.severity.rawValue),
                        \(state.title), \(state.drill), \(state.openedAt.millisecondsSinceEpoch), \(resolvedAt),
                        \(encoded), \(owner), \(ownedAt), 1)
                    """)
                version = 1
                opened = true
            }
            incident = state.id
        }

        if changes.state == nil, let current, !changes.parcels.isEmpty || !changes.noticesSent.isEmpty || owner != nil {
            // Parcels and notice marks are read by transitions too: moving the version makes a
            // transition prepared before them be worked out again. The owner goes with them.
            let updated = try await run(
                """
                UPDATE incident SET outbox_owner = COALESCE(\(owner), outbox_owner),
                    outbox_owned_at = GREATEST(outbox_owned_at, \(ownedAt)), version = version + 1
                WHERE id = \(current.id.rawValue) AND version = \(current.version)
                RETURNING version
                """)
            if updated.isEmpty { return .conflict }
            version = current.version + 1
        }

        var outboxWritten = 0
        if let incident {
            if let claim = request.completing { try await deleteFired(claim) }
            if !changes.cancel.isEmpty {
                let cancel = changes.cancel.map(\.description)
                try await run("DELETE FROM due_time WHERE incident_id = \(incident.rawValue) AND due_id = ANY(\(cancel))")
            }
        } else if !changes.isEmpty, !changes.onlyTimeline {
            throw MessageFailure(
                underlying: IncidentStoreError.rowsWithoutIncident(message: request.messageID, lookup: request.lookup))
        } else if let claim = request.completing {
            try await deleteFired(claim)
        }

        // The rows and the inbox id in one statement; apart when a hook runs between them. A
        // unique violation on the inbox (another writer recorded the same message in between) is
        // a conflict: applied again, it is `.alreadyProcessed`.
        let hook = request.beforeCommit
        if let incident {
            outboxWritten = try await writeRows(changes, of: incident, request: request, recordingInbox: hook == nil)
        }
        if let hook {
            do { try hook() } catch { throw MessageFailure(underlying: error) }
        }
        if hook != nil || incident == nil {
            try await run(
                """
                INSERT INTO inbox (message_id, incident_id, processed_at)
                VALUES (\(request.messageID), \(incident?.rawValue), \(request.at.millisecondsSinceEpoch))
                """)
        }
        return .applied(
            ApplyOutcome.Applied(
                incident: incident, version: version, opened: opened, outboxWritten: outboxWritten,
                outboxDuplicates: changes.outbox.count - outboxWritten))
    }

    /// Writes the due times, timeline, outbox rows, parcels and notice marks of one message
    /// (and its inbox id) in one statement: each kind of row is a JSON array unpacked by a
    /// data-modifying CTE. Returns how many outbox rows were new.
    private func writeRows(
        _ changes: IncidentChanges, of incident: IncidentID, request: ApplyRequest, recordingInbox: Bool
    ) async throws -> Int {
        let id = incident.rawValue
        let now = request.at.millisecondsSinceEpoch
        // On the database's clock a due time keeps its delay after the transition's `at`, counted
        // from the database's time instead of the handling host's.
        let shiftFrom: Int64? = clock == .database ? now : nil
        var schedule: [String: Int64] = [:]  // the last time given for a due id wins
        var scheduleOrder: [String] = []
        for due in changes.schedule {
            let key = due.id.description
            if schedule.updateValue(due.at.millisecondsSinceEpoch, forKey: key) == nil { scheduleOrder.append(key) }
        }
        let rows = RowsJSON(
            schedule: scheduleOrder.map { RowsJSON.Due(due_id: $0, due_at: schedule[$0]!) },
            timeline: changes.timeline.map(RowsJSON.TimelineRow.init),
            outbox: changes.outbox.map(RowsJSON.OutboxRow.init),
            parcels: changes.parcels.map {
                RowsJSON.ParcelRow(waybill: $0.waybill, customer_id: $0.customerID, locale: $0.locale)
            },
            notices: changes.noticesSent.map { RowsJSON.Notice(waybill: $0.waybill, kind: $0.kind.rawValue) })
        let json = try rows.encoded()
        let inboxID: String? = recordingInbox ? request.messageID : nil
        var written: Int64 = 0
        let statement = WriteRowsStatement(json: json, incident: id, shiftFrom: shiftFrom, now: now, inboxID: inboxID)
        for try await count in try await connection.execute(statement, logger: logger) {
            written = count
        }
        return Int(written)
    }

    /// Deletes the due time a claim fired, unless it was moved to another time since.
    private func deleteFired(_ claim: DueClaim) async throws {
        try await run(
            """
            DELETE FROM due_time
            WHERE incident_id = \(claim.incident.rawValue) AND due_id = \(claim.id.description)
                AND due_at = \(claim.at.millisecondsSinceEpoch)
            """)
    }

    private func inboxContains(_ messageID: String) async throws -> Bool {
        try await !run("SELECT 1 FROM inbox WHERE message_id = \(messageID)").isEmpty
    }

    /// Whether any of the messages was processed already, in one round trip.
    func inboxContainsAny(_ messageIDs: [String]) async throws -> Bool {
        try await !run("SELECT 1 FROM inbox WHERE message_id = ANY(\(messageIDs)) LIMIT 1").isEmpty
    }

    func loadIncident(_ lookup: IncidentLookup) async throws -> StoredIncident? {
        try await loadIncidentAndOwner(lookup).incident
    }

    /// The incident and which store owns its unpublished messages.
    private func loadIncidentAndOwner(_ lookup: IncidentLookup) async throws -> (incident: StoredIncident?, outboxOwner: String?) {
        let rows: [PostgresRow]
        switch lookup {
        case .id(let id):
            rows = try await run("SELECT id, state, version, outbox_owner FROM incident WHERE id = \(id.rawValue)")
        case .key(let key):
            rows = try await run(
                """
                SELECT id, state, version, outbox_owner FROM incident WHERE incident_key = \(key)
                ORDER BY (resolved_at IS NULL) DESC, opened_at DESC, seq DESC LIMIT 1
                """)
        case .none:
            rows = []
        }
        guard let row = rows.first else { return (nil, nil) }
        let (id, data, version, owner) = try row.decode((String, Data, Int64, String?).self)
        return (try StoredIncident(id: id, storedJSON: data, version: version), owner)
    }

    func loadParcels(_ incident: IncidentID) async throws -> [AffectedParcel] {
        let rows = try await run(
            """
            SELECT p.waybill, p.customer_id, p.locale, string_agg(n.kind, ',')
            FROM parcel p LEFT JOIN parcel_notice n ON n.incident_id = p.incident_id AND n.waybill = p.waybill
            WHERE p.incident_id = \(incident.rawValue)
            GROUP BY p.seq, p.waybill, p.customer_id, p.locale ORDER BY p.seq
            """)
        return try rows.map { row in
            let (waybill, customer, locale, kinds) = try row.decode((String, String, String?, String?).self)
            let sent = Set((kinds ?? "").split(separator: ",").compactMap { NoticeKind(rawValue: String($0)) })
            return AffectedParcel(parcel: Parcel(waybill: waybill, customerID: customer, locale: locale), noticesSent: sent)
        }
    }
}

/// Rows into values.
enum Rows {
    static func incident(_ row: PostgresRow) throws -> StoredIncident {
        let (id, data, version) = try row.decode((String, Data, Int64).self)
        return try StoredIncident(id: id, storedJSON: data, version: version)
    }

    static func timeline(_ row: PostgresRow) throws -> TimelineRecord {
        let (sequence, incident, at, kind, department, contact, channel, reference, since, summary, detailText) =
            try row.decode(
                (Int64, String, Int64, String, String?, String?, String?, String?, Int64?, String, String).self)
        let detail = (try? StoredText.decode([String: String].self, from: detailText)) ?? [:]
        return TimelineRecord(
            sequence: sequence, incident: IncidentID(incident),
            item: TimelineItem(
                at: Timestamp(millisecondsSinceEpoch: at), kind: TimelineKind(rawValue: kind),
                department: department.map(DepartmentID.init(rawValue:)), contact: contact.map(ContactID.init(rawValue:)),
                channel: channel, reference: reference, sinceFirstPage: since.map { .milliseconds($0) },
                summary: summary, detail: detail))
    }

    static func outbox(_ row: PostgresRow) throws -> OutboxRecord {
        let (sequence, incident, messageID, exchange, routingKey, propertiesText, body, createdAt, publishedAt) =
            try row.decode((Int64, String?, String, String, String, String, Data, Int64, Int64?).self)
        let properties: MessageProperties
        do {
            properties = try StoredText.decodeProperties(propertiesText)
        } catch {
            throw IncidentStoreError(.corruptRow, "cannot decode the properties of outbox row \(sequence): \(error)")
        }
        return OutboxRecord(
            sequence: sequence, incident: incident.map(IncidentID.init(rawValue:)),
            message: OutboxMessage(
                messageID: messageID, exchange: exchange, routingKey: routingKey, properties: properties, body: body),
            createdAt: Timestamp(millisecondsSinceEpoch: createdAt),
            publishedAt: publishedAt.map(Timestamp.init(millisecondsSinceEpoch:)))
    }

    static func dueID(_ text: String, of incident: String) throws -> DueID {
        guard let due = DueID(text) else {
            throw IncidentStoreError(.corruptRow, "due time \(text) of incident \(incident) is not a due id")
        }
        return due
    }
}

/// `Writer.writeRows`'s statement, prepared once per connection: the server plans its
/// data-modifying CTEs once instead of for every message. $1 the rows as JSON, $2 the incident,
/// $3 the time the due times are shifted from (database clock) or NULL, $4 the message's time,
/// $5 the inbox id to record or NULL.
struct WriteRowsStatement: PostgresPreparedStatement {
    typealias Row = Int64

    static let sql = """
        WITH input AS MATERIALIZED (SELECT $1::jsonb AS j),
        scheduled AS (
            INSERT INTO due_time (incident_id, due_id, due_at)
            SELECT $2, e.v->>'due_id',
                (e.v->>'due_at')::bigint + COALESCE(\(databaseNowSQL) - $3::bigint, 0)
            FROM input, jsonb_array_elements(input.j->'schedule') e(v)
            ON CONFLICT (incident_id, due_id)
            DO UPDATE SET due_at = excluded.due_at, claim_token = NULL, claimed_until = NULL
        ),
        timeline_rows AS (
            INSERT INTO timeline (incident_id, at, kind, department, contact, channel, reference,
                since_first_page_ms, summary, detail)
            SELECT $2, (e.v->>'at')::bigint, e.v->>'kind', e.v->>'department', e.v->>'contact',
                e.v->>'channel', e.v->>'reference', (e.v->>'since_first_page_ms')::bigint, e.v->>'summary',
                e.v->>'detail'
            FROM input, jsonb_array_elements(input.j->'timeline') WITH ORDINALITY e(v, n) ORDER BY e.n
        ),
        outbox_rows AS (
            INSERT INTO outbox (message_id, incident_id, exchange, routing_key, properties, body, created_at)
            SELECT e.v->>'message_id', $2, e.v->>'exchange', e.v->>'routing_key', e.v->>'properties',
                decode(e.v->>'body', 'base64'), $4
            FROM input, jsonb_array_elements(input.j->'outbox') WITH ORDINALITY e(v, n) ORDER BY e.n
            ON CONFLICT (message_id) DO NOTHING
            RETURNING 1
        ),
        parcel_rows AS (
            INSERT INTO parcel (incident_id, waybill, customer_id, locale)
            SELECT $2, e.v->>'waybill', e.v->>'customer_id', e.v->>'locale'
            FROM input, jsonb_array_elements(input.j->'parcels') WITH ORDINALITY e(v, n) ORDER BY e.n
            ON CONFLICT (incident_id, waybill) DO NOTHING
        ),
        notice_rows AS (
            INSERT INTO parcel_notice (incident_id, waybill, kind, sent_at)
            SELECT $2, e.v->>'waybill', e.v->>'kind', $4
            FROM input, jsonb_array_elements(input.j->'notices') e(v)
            ON CONFLICT (incident_id, waybill, kind) DO NOTHING
        ),
        inbox_row AS (
            INSERT INTO inbox (message_id, incident_id, processed_at)
            SELECT $5::text, $2, $4 WHERE $5::text IS NOT NULL
        )
        SELECT COUNT(*) FROM outbox_rows
        """

    static var bindingDataTypes: [PostgresDataType] { [.text, .text, .int8, .int8, .text] }

    var json: String
    var incident: String
    var shiftFrom: Int64?
    var now: Int64
    var inboxID: String?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        bindings.append(json)
        bindings.append(incident)
        bindings.append(shiftFrom)
        bindings.append(now)
        bindings.append(inboxID)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 {
        try row.decode(Int64.self)
    }
}
