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

/// The database's clock in milliseconds since the epoch, read when the statement runs.
let databaseNowSQL = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

/// The statements of one message's write, inside the batch's transaction on one connection.
struct Writer {
    let connection: PostgresConnection
    let logger: Logger
    let clock: PostgresIncidentStoreConfiguration.Clock

    @discardableResult
    func run(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).collect()
    }

    func applyOne(_ request: ApplyRequest) async throws -> Result<ApplyOutcome, any Error> {
        if try await inboxContains(request.messageID) {
            // The due time fired and took effect already (a lapsed lease let a second worker
            // claim it): it is done either way.
            if let claim = request.completing { try await deleteFired(claim) }
            return .success(.alreadyProcessed)
        }
        try await run("SAVEPOINT message")
        let result: Result<ApplyOutcome, any Error>
        do {
            let outcome = try await write(request)
            if outcome == .conflict { try await run("ROLLBACK TO SAVEPOINT message") }
            result = .success(outcome)
        } catch let failure as MessageFailure {
            try await run("ROLLBACK TO SAVEPOINT message")
            result = .failure(failure.underlying)
        } catch where ErrorTranslator.isUniqueViolation(error) || ErrorTranslator.isRetryableConflict(error) {
            // Another writer opened the key, recorded the message, or locked rows in the
            // opposite order first: applied again, the message sees what it did.
            try await run("ROLLBACK TO SAVEPOINT message")
            result = .success(.conflict)
        }
        try await run("RELEASE SAVEPOINT message")
        return result
    }

    private func write(_ request: ApplyRequest) async throws -> ApplyOutcome {
        let current: StoredIncident?
        let parcels: [AffectedParcel]
        do {
            current = try await loadIncident(request.lookup)
            if request.includeParcels, let current {
                parcels = try await loadParcels(current.id)
            } else {
                parcels = []
            }
        } catch let error as IncidentStoreError {
            throw MessageFailure(underlying: error)
        }
        let changes: IncidentChanges
        do {
            changes = try request.transition(TransitionInput(incident: current, parcels: parcels))
        } catch {
            throw MessageFailure(underlying: error)
        }

        var incident = current?.id
        var version = current?.version
        var opened = false
        if let state = changes.state {
            let encoded: Data
            do {
                encoded = try JSONEncoder().encode(state)
            } catch {
                throw MessageFailure(
                    underlying: IncidentStoreError(
                        .invalidChanges, "message \(request.messageID): cannot encode the state of \(state.id): \(error)"))
            }
            let resolvedAt = state.resolution?.at.millisecondsSinceEpoch
            if let current, current.id == state.id {
                let updated = try await run(
                    """
                    UPDATE incident SET type = \(state.type.rawValue), severity = \(state.severity.rawValue),
                        title = \(state.title), drill = \(state.drill), resolved_at = \(resolvedAt), state = \(encoded),
                        version = version + 1
                    WHERE id = \(state.id.rawValue) AND version = \(current.version)
                    RETURNING version
                    """)
                if updated.isEmpty { return .conflict }
                version = current.version + 1
            } else {
                if let current, !current.isResolved {
                    throw MessageFailure(
                        underlying: IncidentStoreError(
                            .invalidChanges,
                            "message \(request.messageID): its transition opened incident \(state.id) for key "
                                + "\(state.key) while incident \(current.id) is open with that key; "
                                + "a trigger for an open key must update that incident."))
                }
                // A unique violation (another writer opened the key or the id first) is a conflict.
                try await run(
                    """
                    INSERT INTO incident (id, incident_key, type, severity, title, drill, opened_at, resolved_at,
                        state, version)
                    VALUES (\(state.id.rawValue), \(state.key), \(state.type.rawValue), \(state.severity.rawValue),
                        \(state.title), \(state.drill), \(state.openedAt.millisecondsSinceEpoch), \(resolvedAt),
                        \(encoded), 1)
                    """)
                version = 1
                opened = true
            }
            incident = state.id
        }

        var written = 0
        var duplicates = 0
        if let incident {
            if let claim = request.completing { try await deleteFired(claim) }
            try await writeRows(changes, of: incident, request: request, written: &written, duplicates: &duplicates)
        } else if !changes.isEmpty, !changes.onlyTimeline {
            throw MessageFailure(
                underlying: IncidentStoreError(
                    .invalidChanges,
                    "message \(request.messageID) found no incident (\(request.lookup)) and opened none, "
                        + "yet has rows to write: they would belong to no incident."))
        } else if let claim = request.completing {
            try await deleteFired(claim)
        }

        if let hook = request.beforeCommit {
            do { try hook() } catch { throw MessageFailure(underlying: error) }
        }
        // A unique violation here (another writer recorded the same message in between) is a
        // conflict: applied again, it is `.alreadyProcessed`.
        try await run(
            """
            INSERT INTO inbox (message_id, incident_id, processed_at)
            VALUES (\(request.messageID), \(incident?.rawValue), \(request.at.millisecondsSinceEpoch))
            """)
        return .applied(
            ApplyOutcome.Applied(
                incident: incident, version: version, opened: opened, outboxWritten: written,
                outboxDuplicates: duplicates))
    }

    private func writeRows(
        _ changes: IncidentChanges, of incident: IncidentID, request: ApplyRequest, written: inout Int,
        duplicates: inout Int
    ) async throws {
        let id = incident.rawValue
        let now = request.at.millisecondsSinceEpoch
        for due in changes.cancel {
            try await run("DELETE FROM due_time WHERE incident_id = \(id) AND due_id = \(due.description)")
        }
        // On the database's clock a due time keeps its delay after the transition's `at`, counted
        // from the database's time instead of the handling host's.
        let shiftFrom: Int64? = clock == .database ? now : nil
        for due in changes.schedule {
            try await run(
                """
                INSERT INTO due_time (incident_id, due_id, due_at)
                VALUES (\(id), \(due.id.description),
                    \(due.at.millisecondsSinceEpoch)::bigint + COALESCE(\(unescaped: databaseNowSQL) - \(shiftFrom)::bigint, 0))
                ON CONFLICT (incident_id, due_id)
                DO UPDATE SET due_at = excluded.due_at, claim_token = NULL, claimed_until = NULL
                """)
        }
        if !changes.timeline.isEmpty {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            for item in changes.timeline {
                let detail = String(decoding: try encoder.encode(item.detail), as: UTF8.self)
                try await run(
                    """
                    INSERT INTO timeline (incident_id, at, kind, department, contact, channel, reference,
                        since_first_page_ms, summary, detail)
                    VALUES (\(id), \(item.at.millisecondsSinceEpoch), \(item.kind.rawValue), \(item.department?.rawValue),
                        \(item.contact?.rawValue), \(item.channel), \(item.reference), \(item.sinceFirstPage?.milliseconds),
                        \(item.summary), \(detail))
                    """)
            }
        }
        if !changes.outbox.isEmpty {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            for message in changes.outbox {
                let properties = String(decoding: try encoder.encode(message.properties), as: UTF8.self)
                let inserted = try await run(
                    """
                    INSERT INTO outbox (message_id, incident_id, exchange, routing_key, properties, body, created_at)
                    VALUES (\(message.messageID), \(id), \(message.exchange), \(message.routingKey), \(properties),
                        \(message.body), \(now))
                    ON CONFLICT (message_id) DO NOTHING
                    RETURNING seq
                    """)
                if inserted.isEmpty { duplicates += 1 } else { written += 1 }
            }
        }
        for parcel in changes.parcels {
            try await run(
                """
                INSERT INTO parcel (incident_id, waybill, customer_id, locale)
                VALUES (\(id), \(parcel.waybill), \(parcel.customerID), \(parcel.locale))
                ON CONFLICT (incident_id, waybill) DO NOTHING
                """)
        }
        for mark in changes.noticesSent {
            try await run(
                """
                INSERT INTO parcel_notice (incident_id, waybill, kind, sent_at)
                VALUES (\(id), \(mark.waybill), \(mark.kind.rawValue), \(now))
                ON CONFLICT (incident_id, waybill, kind) DO NOTHING
                """)
        }
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
        let rows: [PostgresRow]
        switch lookup {
        case .id(let id):
            rows = try await run("SELECT id, state, version FROM incident WHERE id = \(id.rawValue)")
        case .key(let key):
            rows = try await run(
                """
                SELECT id, state, version FROM incident WHERE incident_key = \(key)
                ORDER BY (resolved_at IS NULL) DESC, opened_at DESC, seq DESC LIMIT 1
                """)
        case .none:
            rows = []
        }
        return try rows.first.map(Rows.incident)
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
        do {
            return StoredIncident(state: try JSONDecoder().decode(IncidentState.self, from: data), version: version)
        } catch {
            throw IncidentStoreError(
                .corruptRow,
                "cannot decode the state of incident \(id): \(error). The row was written by another version of "
                    + "Escalator; run the version that wrote it, or migrate the store.")
        }
    }

    static func timeline(_ row: PostgresRow) throws -> TimelineRecord {
        let (sequence, incident, at, kind, department, contact, channel, reference, since, summary, detailText) =
            try row.decode(
                (Int64, String, Int64, String, String?, String?, String?, String?, Int64?, String, String).self)
        let detail = (try? JSONDecoder().decode([String: String].self, from: Data(detailText.utf8))) ?? [:]
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
            properties = try JSONDecoder().decode(MessageProperties.self, from: Data(propertiesText.utf8))
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
