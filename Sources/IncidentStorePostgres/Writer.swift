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
    func applyOne(
        _ request: ApplyRequest, lookingUpInbox: Bool = true, savepoint: Bool,
        preloaded: inout PreloadedIncidents
    ) async throws -> Result<ApplyOutcome, any Error> {
        if lookingUpInbox, try await inboxContains(request.messageID) {
            // The due time fired and took effect already (a lapsed lease let a second worker
            // claim it): it is done either way.
            if let claim = request.completing { try await deleteFired(claim) }
            return .success(.alreadyProcessed)
        }
        if savepoint { try await run("SAVEPOINT message") }
        let result: Result<ApplyOutcome, any Error>
        do {
            result = .success(try await write(request, preloaded: &preloaded))
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

    private func write(_ request: ApplyRequest, preloaded: inout PreloadedIncidents) async throws -> ApplyOutcome {
        let current: StoredIncident?
        let currentOwner: String?
        let found: Result<FoundIncident, any Error>?
        if let preloadedFound = preloaded.lookUp(request.lookup) {
            found = preloadedFound
        } else {
            found = try await findIncidents([request.lookup])[request.lookup]
        }
        do {
            (current, currentOwner) = try found?.get() ?? (nil, nil)
        } catch {
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

        // Since when never goes back: another relay must not find the incident's messages old
        // all at once.
        let ownership = outbox?.ownership(of: changes, at: request.at, found: current.map { ($0.id, currentOwner) })
        let incidentRow: IncidentRowWrite?
        if let state = changes.state, let encoded = encodedState {
            if let current, current.id == state.id {
                incidentRow = .update(state, encoded, expecting: current.version)
            } else {
                if let current, !current.isResolved {
                    throw MessageFailure(
                        underlying: IncidentStoreError.openedOverOpenIncident(
                            message: request.messageID, opened: state, open: current.id))
                }
                // A unique violation (another writer opened the key or the id first) is a conflict.
                incidentRow = .insert(state, encoded)
            }
        } else if let current {
            // Parcels and notice marks are read by transitions too: moving the version makes a
            // transition prepared before them be worked out again. The owner goes with them.
            let movesVersion = !changes.parcels.isEmpty || !changes.noticesSent.isEmpty || ownership != nil
            incidentRow =
                movesVersion
                ? .moveVersion(current.id, expecting: current.version) : .unchanged(current.id, current.version)
        } else {
            incidentRow = nil
        }

        // The incident's row, its other rows and the inbox id in one statement; the inbox apart
        // when a hook runs between them. A unique violation on the inbox (another writer recorded
        // the same message in between) is a conflict: applied again, it is `.alreadyProcessed`.
        let hook = request.beforeCommit
        var outboxWritten = 0
        if let incidentRow {
            preloaded.forget(incidentRow.incident, keys: current?.key, changes.state?.key)
            guard
                let written = try await writeRows(
                    changes, incidentRow: incidentRow, ownership: ownership, request: request,
                    recordingInbox: hook == nil)
            else {
                return .conflict
            }
            outboxWritten = written
        } else if !changes.isEmpty, !changes.onlyTimeline {
            throw MessageFailure(
                underlying: IncidentStoreError.rowsWithoutIncident(message: request.messageID, lookup: request.lookup))
        } else if let claim = request.completing {
            try await deleteFired(claim)
        }
        if let hook {
            do { try hook() } catch { throw MessageFailure(underlying: error) }
        }
        if hook != nil || incidentRow == nil {
            try await run(
                """
                INSERT INTO inbox (message_id, incident_id, processed_at)
                VALUES (\(request.messageID), \(incidentRow?.incident.rawValue), \(request.at.millisecondsSinceEpoch))
                """)
        }
        return .applied(
            ApplyOutcome.Applied(
                incident: incidentRow?.incident, version: incidentRow?.writtenVersion, opened: incidentRow?.opens ?? false,
                outboxWritten: outboxWritten, outboxDuplicates: changes.outbox.count - outboxWritten))
    }

    /// Writes the incident's row and the due times (the fired one and the cancelled ones
    /// deleted), timeline, outbox rows, parcels and notice marks of one message, and its inbox
    /// id, in one statement. Returns how many outbox rows were new, or nil when the incident
    /// moved on since it was read: nothing was written.
    private func writeRows(
        _ changes: IncidentChanges, incidentRow: IncidentRowWrite, ownership: (owner: String, since: Int64)?,
        request: ApplyRequest, recordingInbox: Bool
    ) async throws -> Int? {
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
        let statement = WriteMessageStatement(
            json: try rows.encoded(), incidentRow: incidentRow, owner: ownership?.owner, ownedAt: ownership?.since,
            fired: request.completing, cancel: changes.cancel.map(\.description), shiftFrom: shiftFrom, now: now,
            inboxID: recordingInbox ? request.messageID : nil)
        var written: (incidentRows: Int64, outboxRows: Int64) = (0, 0)
        for try await counts in try await connection.execute(statement, logger: logger) {
            written = counts
        }
        return written.incidentRows == 0 ? nil : Int(written.outboxRows)
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

    func loadIncident(_ lookup: IncidentLookup) async throws -> StoredIncident? {
        try await findIncidents([lookup])[lookup]?.get().incident
    }

    /// What each of the lookups finds, in one round trip: by id, that incident; by key, the open
    /// incident with it, else the most recently opened resolved one. Nothing found is `(nil, nil)`;
    /// a row that cannot be decoded is a failure of the lookups that found it, not of the others.
    func findIncidents(_ lookups: some Sequence<IncidentLookup>) async throws
        -> [IncidentLookup: Result<FoundIncident, any Error>]
    {
        try await lookUpBatch(messageIDs: [], lookups: lookups).found
    }

    /// What a batch needs to know before its first write, in one round trip: whether the inbox
    /// holds any of its messages already, and what its lookups find (as `findIncidents`).
    func lookUpBatch(messageIDs: [String], lookups: some Sequence<IncidentLookup>) async throws
        -> (inboxHoldsAny: Bool, found: [IncidentLookup: Result<FoundIncident, any Error>])
    {
        var ids: Set<String> = []
        var keys: Set<String> = []
        for lookup in lookups {
            switch lookup {
            case .id(let id): ids.insert(id.rawValue)
            case .key(let key): keys.insert(key)
            case .none: break
            }
        }
        var found: [IncidentLookup: Result<FoundIncident, any Error>] = [:]
        for id in ids { found[.id(IncidentID(id))] = .success((nil, nil)) }
        for key in keys { found[.key(key)] = .success((nil, nil)) }
        guard !found.isEmpty || !messageIDs.isEmpty else { return (false, found) }
        let rows = try await run(
            """
            SELECT 'inbox', NULL::text, NULL::text, NULL::bytea, NULL::bigint, NULL::text
            WHERE EXISTS (SELECT 1 FROM inbox WHERE message_id = ANY(\(messageIDs)))
            UNION ALL
            SELECT 'incident', NULL::text, id, state, version, outbox_owner FROM incident WHERE id = ANY(\(Array(ids)))
            UNION ALL
            SELECT 'incident', * FROM (
                SELECT DISTINCT ON (incident_key) incident_key, id, state, version, outbox_owner
                FROM incident WHERE incident_key = ANY(\(Array(keys)))
                ORDER BY incident_key, (resolved_at IS NULL) DESC, opened_at DESC, seq DESC
            ) latest
            """)
        var inboxHoldsAny = false
        for row in rows {
            let (kind, key, id, data, version, owner) = try row.decode(
                (String, String?, String?, Data?, Int64?, String?).self)
            if kind == "inbox" {
                inboxHoldsAny = true
                continue
            }
            // An incident row's id, state and version are NOT NULL.
            guard let id, let data, let version else { continue }
            found[key.map(IncidentLookup.key) ?? .id(IncidentID(id))] = Result {
                (try StoredIncident(id: id, storedJSON: data, version: version), owner)
            }
        }
        return (inboxHoldsAny, found)
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

/// How one message writes its incident's row.
enum IncidentRowWrite {
    /// Opens the incident.
    case insert(IncidentState, Data)
    /// Its new state, if the row is still at the version it was read at.
    case update(IncidentState, Data, expecting: Int64)
    /// Only the version (and the outbox's owner), if the row is still at the version it was
    /// read at.
    case moveVersion(IncidentID, expecting: Int64)
    /// The row as it is.
    case unchanged(IncidentID, Int64)

    var incident: IncidentID {
        switch self {
        case .insert(let state, _), .update(let state, _, _): state.id
        case .moveVersion(let id, _), .unchanged(let id, _): id
        }
    }

    var opens: Bool {
        if case .insert = self { true } else { false }
    }

    var writtenVersion: Int64 {
        switch self {
        case .insert: 1
        case .update(_, _, let expected), .moveVersion(_, let expected): expected + 1
        case .unchanged(_, let version): version
        }
    }
}

/// `Writer.writeRows`'s statement, prepared once per connection: the server plans its
/// data-modifying CTEs once instead of for every message, and a message is one round trip.
/// Every row but the incident's is written only if the incident's was (`written`): a version
/// moved by another writer leaves everything as it was. A due time scheduled again is updated
/// in place, not also deleted: one statement must not modify a row twice.
///
/// $1 the rows as JSON, $2 the incident, $3 the time the due times are shifted from (database
/// clock) or NULL, $4 the message's time, $5 the inbox id to record or NULL, $6 how the incident's
/// row is written (`insert`, `update`, `version` or NULL for unchanged), $7 the version it is
/// expected at, $8-$15 its columns, $16-$17 the outbox's owner and since when, $18-$20 the fired
/// due time (incident, id, time), $21 the due ids cancelled.
struct WriteMessageStatement: PostgresPreparedStatement {
    typealias Row = (Int64, Int64)

    static let sql = """
        WITH input AS MATERIALIZED (SELECT $1::jsonb AS j),
        incident_inserted AS (
            INSERT INTO incident (id, incident_key, type, severity, title, drill, opened_at, resolved_at,
                state, outbox_owner, outbox_owned_at, version)
            SELECT $2, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 1
            WHERE $6::text = 'insert'
            RETURNING 1
        ),
        incident_updated AS (
            UPDATE incident SET type = $9, severity = $10, title = $11, drill = $12, resolved_at = $14,
                state = $15, outbox_owner = COALESCE($16, outbox_owner),
                outbox_owned_at = GREATEST(outbox_owned_at, $17), version = version + 1
            WHERE $6::text = 'update' AND id = $2 AND version = $7
            RETURNING 1
        ),
        version_moved AS (
            UPDATE incident SET outbox_owner = COALESCE($16, outbox_owner),
                outbox_owned_at = GREATEST(outbox_owned_at, $17), version = version + 1
            WHERE $6::text = 'version' AND id = $2 AND version = $7
            RETURNING 1
        ),
        written AS MATERIALIZED (
            SELECT 1 FROM incident_inserted
            UNION ALL SELECT 1 FROM incident_updated
            UNION ALL SELECT 1 FROM version_moved
            UNION ALL SELECT 1 WHERE $6::text IS NULL
        ),
        schedule AS MATERIALIZED (
            SELECT e.v->>'due_id' AS due_id, (e.v->>'due_at')::bigint AS due_at
            FROM input, jsonb_array_elements(input.j->'schedule') e(v)
        ),
        fired_deleted AS (
            DELETE FROM due_time
            WHERE incident_id = $18 AND due_id = $19 AND due_at = $20 AND EXISTS (SELECT 1 FROM written)
                AND NOT (incident_id = $2 AND due_id IN (SELECT due_id FROM schedule))
        ),
        cancelled AS (
            DELETE FROM due_time
            WHERE incident_id = $2 AND due_id = ANY($21) AND EXISTS (SELECT 1 FROM written)
                AND due_id NOT IN (SELECT due_id FROM schedule)
        ),
        scheduled AS (
            INSERT INTO due_time (incident_id, due_id, due_at)
            SELECT $2, s.due_id, s.due_at + COALESCE(\(databaseNowSQL) - $3::bigint, 0)
            FROM schedule s WHERE EXISTS (SELECT 1 FROM written)
            ON CONFLICT (incident_id, due_id)
            DO UPDATE SET due_at = excluded.due_at, claim_token = NULL, claimed_until = NULL
        ),
        timeline_rows AS (
            INSERT INTO timeline (incident_id, at, kind, department, contact, channel, reference,
                since_first_page_ms, summary, detail)
            SELECT $2, (e.v->>'at')::bigint, e.v->>'kind', e.v->>'department', e.v->>'contact',
                e.v->>'channel', e.v->>'reference', (e.v->>'since_first_page_ms')::bigint, e.v->>'summary',
                e.v->>'detail'
            FROM input, jsonb_array_elements(input.j->'timeline') WITH ORDINALITY e(v, n)
            WHERE EXISTS (SELECT 1 FROM written) ORDER BY e.n
        ),
        outbox_rows AS (
            INSERT INTO outbox (message_id, incident_id, exchange, routing_key, properties, body, created_at)
            SELECT e.v->>'message_id', $2, e.v->>'exchange', e.v->>'routing_key', e.v->>'properties',
                decode(e.v->>'body', 'base64'), $4
            FROM input, jsonb_array_elements(input.j->'outbox') WITH ORDINALITY e(v, n)
            WHERE EXISTS (SELECT 1 FROM written) ORDER BY e.n
            ON CONFLICT (message_id) DO NOTHING
            RETURNING 1
        ),
        parcel_rows AS (
            INSERT INTO parcel (incident_id, waybill, customer_id, locale)
            SELECT $2, e.v->>'waybill', e.v->>'customer_id', e.v->>'locale'
            FROM input, jsonb_array_elements(input.j->'parcels') WITH ORDINALITY e(v, n)
            WHERE EXISTS (SELECT 1 FROM written) ORDER BY e.n
            ON CONFLICT (incident_id, waybill) DO NOTHING
        ),
        notice_rows AS (
            INSERT INTO parcel_notice (incident_id, waybill, kind, sent_at)
            SELECT $2, e.v->>'waybill', e.v->>'kind', $4
            FROM input, jsonb_array_elements(input.j->'notices') e(v)
            WHERE EXISTS (SELECT 1 FROM written)
            ON CONFLICT (incident_id, waybill, kind) DO NOTHING
        ),
        inbox_row AS (
            INSERT INTO inbox (message_id, incident_id, processed_at)
            SELECT $5::text, $2, $4 WHERE $5::text IS NOT NULL AND EXISTS (SELECT 1 FROM written)
        )
        SELECT (SELECT COUNT(*) FROM written), (SELECT COUNT(*) FROM outbox_rows)
        """

    static var bindingDataTypes: [PostgresDataType] {
        [
            .text, .text, .int8, .int8, .text, .text, .int8, .text, .text, .int8, .text, .bool, .int8, .int8,
            .bytea, .text, .int8, .text, .text, .int8, .textArray,
        ]
    }

    var json: String
    var incidentRow: IncidentRowWrite
    var owner: String?
    var ownedAt: Int64?
    var fired: DueClaim?
    var cancel: [String]
    var shiftFrom: Int64?
    var now: Int64
    var inboxID: String?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 21)
        bindings.append(json)
        bindings.append(incidentRow.incident.rawValue)
        bindings.append(shiftFrom)
        bindings.append(now)
        bindings.append(inboxID)
        let (kind, expected, state, encoded): (String?, Int64?, IncidentState?, Data?) =
            switch incidentRow {
            case .insert(let state, let encoded): ("insert", nil, state, encoded)
            case .update(let state, let encoded, let expected): ("update", expected, state, encoded)
            case .moveVersion(_, let expected): ("version", expected, nil, nil)
            case .unchanged: (nil, nil, nil, nil)
            }
        bindings.append(kind)
        bindings.append(expected)
        bindings.append(state?.key)
        bindings.append(state?.type.rawValue)
        bindings.append(state.map { Int64($0.severity.rawValue) })
        bindings.append(state?.title)
        bindings.append(state?.drill)
        bindings.append(state?.openedAt.millisecondsSinceEpoch)
        bindings.append(state?.resolution?.at.millisecondsSinceEpoch)
        try bindings.append(encoded)
        bindings.append(owner)
        bindings.append(ownedAt)
        bindings.append(fired?.incident.rawValue)
        bindings.append(fired?.id.description)
        bindings.append(fired?.at.millisecondsSinceEpoch)
        bindings.append(cancel)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> (Int64, Int64) {
        try row.decode((Int64, Int64).self)
    }
}
