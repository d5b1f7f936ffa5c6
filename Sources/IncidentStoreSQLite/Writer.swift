import CallTree
import Foundation
import GRDB
import IncidentStore

/// An error of one message of a batch (its transition, its hook, its changes): rolls back that
/// message's savepoint only.
private struct MessageFailure: Error {
    var underlying: any Error
}

/// The statements of one message's write, inside the batch's transaction.
struct Writer {
    let db: Database
    var written: WrittenStates?
    var recent: RecentStates?
    /// Who publishes the messages written here (`incident.outbox_owner`); nil when only reading.
    var outbox: OutboxOwner.Transaction?

    init(db: Database, written: WrittenStates? = nil, recent: RecentStates? = nil, outbox: OutboxOwner.Transaction? = nil) {
        self.db = db
        self.written = written
        self.recent = recent
        self.outbox = outbox
    }

    /// Applies one message. In a savepoint, a conflict or failure rolls back this message only.
    /// Without one (the statements a savepoint costs, twice per message), a conflict or failure
    /// throws `RolledBackMessage` and the caller rolls the whole transaction back.
    func applyOne(_ request: ApplyRequest, savepoint: Bool) throws -> Result<ApplyOutcome, any Error> {
        written?.current = nil
        written?.currentOutbox.removeAll(keepingCapacity: true)
        let result = try apply(request, savepoint: savepoint)
        if case .success(.applied) = result, let written {
            if let state = written.current { written.committedMessages.append(state) }
            written.outbox += written.currentOutbox
        }
        return result
    }

    private func apply(_ request: ApplyRequest, savepoint: Bool) throws -> Result<ApplyOutcome, any Error> {
        // A prepared message was not in the inbox when its batch was read. In the first pass, while
        // its transition holds, its inbox insert is the check: a message recorded since conflicts
        // there, the transaction rolls back, and the careful pass looks it up first.
        let lookedUp = savepoint || request.prepared == nil
        if lookedUp, try inboxContains(request.messageID) {
            // The due time fired and took effect already (a lapsed lease let a second worker
            // claim it): it is done either way.
            if let claim = request.completing { try deleteFired(claim, number: nil) }
            return .success(.alreadyProcessed)
        }
        /// The message's result, and whether it keeps anything: a conflict or a failure does not.
        func attempt() throws -> (result: Result<ApplyOutcome, any Error>, keeps: Bool) {
            do {
                let outcome = try write(request, inboxLookedUp: lookedUp)
                return (.success(outcome), outcome != .conflict)
            } catch let failure as MessageFailure {
                return (.failure(failure.underlying), false)
            }
        }
        guard savepoint else {
            let (result, keeps) = try attempt()
            guard keeps else { throw RolledBackMessage(result: result) }
            return result
        }
        var result: Result<ApplyOutcome, any Error> = .success(.conflict)
        try db.inSavepoint {
            let attempted = try attempt()
            result = attempted.result
            return attempted.keeps ? .commit : .rollback
        }
        return result
    }

    private func write(_ request: ApplyRequest, inboxLookedUp: Bool) throws -> ApplyOutcome {
        let found: IncidentRow?
        do {
            found = try loadIncidentRow(request.lookup)
        } catch let error as IncidentStoreError {
            throw MessageFailure(underlying: error)
        }
        let changes: IncidentChanges
        let encodedState: Data?
        if let reused = request.preparedChanges(for: found?.basis) {
            (changes, encodedState) = reused
        } else {
            // Something changed since the batch was read: perhaps this very message was recorded.
            if !inboxLookedUp, try inboxContains(request.messageID) {
                if let claim = request.completing { try deleteFired(claim, number: found?.number) }
                return .alreadyProcessed
            }
            let current: StoredIncident?
            let parcels: [AffectedParcel]
            do {
                current = try found?.decoded()
                parcels = try request.includeParcels ? current.map { try loadParcels($0.id) } ?? [] : []
            } catch let error as IncidentStoreError {
                throw MessageFailure(underlying: error)
            }
            do {
                (changes, encodedState) = try request.workedOut(against: current, parcels: parcels)
            } catch {
                throw MessageFailure(underlying: error)
            }
        }

        var incident = found.map { (id: $0.id, number: $0.number) }
        var version = found?.version
        var opened = false
        // Since when never goes back: another relay must not find the incident's messages old
        // all at once.
        let ownership = outbox?.ownership(of: changes, at: request.at, found: found.map { ($0.id, $0.outboxOwner) })
        let (owner, ownedAt) = (ownership?.owner, ownership?.since)
        if let state = changes.state, let encoded = encodedState {
            if let current = found, current.id == state.id {
                try db.cachedStatement(
                    sql: """
                        UPDATE incident SET type = ?, severity = ?, title = ?, drill = ?, resolved_at = ?, state = ?,
                            outbox_owner = COALESCE(?, outbox_owner),
                            outbox_owned_at = COALESCE(MAX(COALESCE(outbox_owned_at, ?), ?), outbox_owned_at),
                            version = version + 1
                        WHERE number = ? AND version = ?
                        """
                ).execute(arguments: [
                    state.type.rawValue, state.severity.rawValue, state.title, state.drill,
                    state.resolution?.at.millisecondsSinceEpoch, encoded, owner, ownedAt, ownedAt, current.number,
                    current.version,
                ])
                if db.changesCount == 0 { return .conflict }
                version = current.version + 1
                written?.current = StoredIncident(state: state, version: current.version + 1)
            } else {
                if let current = found, !current.isResolved {
                    throw MessageFailure(
                        underlying: IncidentStoreError.openedOverOpenIncident(
                            message: request.messageID, opened: state, open: current.id))
                }
                do {
                    try db.cachedStatement(
                        sql: """
                            INSERT INTO incident (id, incident_key, type, severity, title, drill, opened_at,
                                resolved_at, state, outbox_owner, outbox_owned_at, version)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
                            """
                    ).execute(arguments: [
                        state.id.rawValue, state.key, state.type.rawValue, state.severity.rawValue, state.title,
                        state.drill, state.openedAt.millisecondsSinceEpoch,
                        state.resolution?.at.millisecondsSinceEpoch, encoded, owner, ownedAt,
                    ])
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    // Another writer opened the key (or the id) first.
                    return .conflict
                }
                version = 1
                opened = true
                written?.current = StoredIncident(state: state, version: 1)
                incident = (state.id, db.lastInsertedRowID)
            }
        } else if let current = found, !changes.parcels.isEmpty || !changes.noticesSent.isEmpty || owner != nil {
            // Parcels and notice marks are read by transitions too: moving the version makes a
            // transition prepared before them be worked out again. The owner goes with them.
            try db.cachedStatement(
                sql: """
                    UPDATE incident SET outbox_owner = COALESCE(?, outbox_owner),
                        outbox_owned_at = COALESCE(MAX(COALESCE(outbox_owned_at, ?), ?), outbox_owned_at),
                        version = version + 1
                    WHERE number = ? AND version = ?
                    """
            ).execute(arguments: [owner, ownedAt, ownedAt, current.number, current.version])
            if db.changesCount == 0 { return .conflict }
            version = current.version + 1
        }

        var written = 0
        var duplicates = 0
        if let incident {
            if let claim = request.completing { try deleteFired(claim, number: incident.number) }
            try writeRows(
                changes, of: incident.id, number: incident.number, at: request.at, written: &written, duplicates: &duplicates)
        } else if !changes.isEmpty, !changes.onlyTimeline {
            throw MessageFailure(
                underlying: IncidentStoreError.rowsWithoutIncident(message: request.messageID, lookup: request.lookup))
        } else if let claim = request.completing {
            try deleteFired(claim, number: nil)
        }

        if let hook = request.beforeCommit {
            do { try hook() } catch { throw MessageFailure(underlying: error) }
        }
        do {
            try db.cachedStatement(sql: "INSERT INTO inbox (message_id, incident_id, processed_at) VALUES (?, ?, ?)")
                .execute(arguments: [request.messageID, incident?.id.rawValue, request.at.millisecondsSinceEpoch])
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            // Another writer recorded the same message in between: applied again, it is a duplicate.
            return .conflict
        }
        return .applied(
            ApplyOutcome.Applied(
                incident: incident?.id, version: version, opened: opened, outboxWritten: written,
                outboxDuplicates: duplicates))
    }

    /// The incident's rows, under its number (see schema v5) and, where people look them up, its id.
    private func writeRows(
        _ changes: IncidentChanges, of incident: IncidentID, number: Int64, at now: Timestamp, written: inout Int,
        duplicates: inout Int
    ) throws {
        let id = incident.rawValue
        if !changes.cancel.isEmpty {
            let cancel = try db.cachedStatement(sql: "DELETE FROM due_time WHERE incident_number = ? AND due_id = ?")
            for due in changes.cancel { try cancel.execute(arguments: [number, due.description]) }
        }
        if !changes.schedule.isEmpty {
            let schedule = try db.cachedStatement(
                sql: """
                    INSERT INTO due_time (incident_number, due_id, due_at) VALUES (?, ?, ?)
                    ON CONFLICT (incident_number, due_id)
                    DO UPDATE SET due_at = excluded.due_at, claim_token = NULL, claimed_until = NULL
                    """)
            for due in changes.schedule {
                try schedule.execute(arguments: [number, due.id.description, due.at.millisecondsSinceEpoch])
            }
        }
        if !changes.timeline.isEmpty {
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO timeline (incident_id, incident_number, at, kind, department, contact, channel, reference,
                        since_first_page_ms, summary, detail)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for item in changes.timeline {
                let detail = StoredText.encode(item.detail)
                try insert.execute(arguments: [
                    id, number, item.at.millisecondsSinceEpoch, item.kind.rawValue, item.department?.rawValue,
                    item.contact?.rawValue, item.channel, item.reference, item.sinceFirstPage?.milliseconds,
                    item.summary, detail,
                ])
            }
        }
        if !changes.outbox.isEmpty {
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO outbox (message_id, incident_id, incident_number, exchange, routing_key, properties, body,
                        created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (incident_number, message_id) DO NOTHING
                    """)
            for message in changes.outbox {
                let properties = StoredText.encode(message.properties)
                try insert.execute(arguments: [
                    message.messageID, id, number, message.exchange, message.routingKey, properties, message.body,
                    now.millisecondsSinceEpoch,
                ])
                guard db.changesCount > 0 else {
                    duplicates += 1
                    continue
                }
                written += 1
                self.written?.currentOutbox.append(
                    OutboxRecord(
                        sequence: db.lastInsertedRowID, incident: incident, message: message, createdAt: now,
                        publishedAt: nil))
            }
        }
        if !changes.parcels.isEmpty {
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO parcel (incident_id, waybill, customer_id, locale) VALUES (?, ?, ?, ?)
                    ON CONFLICT (incident_id, waybill) DO NOTHING
                    """)
            for parcel in changes.parcels {
                try insert.execute(arguments: [id, parcel.waybill, parcel.customerID, parcel.locale])
            }
        }
        if !changes.noticesSent.isEmpty {
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO parcel_notice (incident_id, waybill, kind, sent_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (incident_id, waybill, kind) DO NOTHING
                    """)
            for mark in changes.noticesSent {
                try insert.execute(arguments: [id, mark.waybill, mark.kind.rawValue, now.millisecondsSinceEpoch])
            }
        }
    }

    /// Deletes the due time a claim fired, unless it was moved to another time since; `number`
    /// is its incident's when known (the incident is looked up only when it is not).
    private func deleteFired(_ claim: DueClaim, number: Int64?) throws {
        try db.cachedStatement(
            sql: """
                DELETE FROM due_time WHERE due_id = ? AND due_at = ?
                    AND incident_number = COALESCE(?, \(Self.numberOfIncident))
                """
        ).execute(arguments: [claim.id.description, claim.at.millisecondsSinceEpoch, number, claim.incident.rawValue])
    }

    /// The number (schema v5) of the incident whose id is the statement's next argument: how rows
    /// keyed by number are found from an id.
    static let numberOfIncident = "(SELECT number FROM incident WHERE id = ?)"


    /// The last outbox sequence given (`AUTOINCREMENT`), also to an insert that found its message
    /// there already; nil before the first row.
    static func outboxSequence(_ db: Database) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"))
    }

    func inboxContains(_ messageID: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM inbox WHERE message_id = ?"), arguments: [messageID])
            ?? false
    }

    func loadIncident(_ lookup: IncidentLookup) throws -> StoredIncident? {
        guard let row = try loadIncidentRow(lookup) else { return nil }
        if let known = recent?.state(of: row.id, version: row.version) { return known }
        let incident = try row.decoded()
        recent?.remember(CollectionOfOne(incident))
        return incident
    }

    /// The incident a lookup finds, its state still encoded: a prepared transition that holds
    /// never needs it decoded.
    func loadIncidentRow(_ lookup: IncidentLookup) throws -> IncidentRow? {
        let row: Row?
        switch lookup {
        case .id(let id):
            row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT id, state, version, resolved_at IS NOT NULL, outbox_owner, number FROM incident WHERE id = ?
                        """),
                arguments: [id.rawValue])
        case .key(let key):
            row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT id, state, version, resolved_at IS NOT NULL, outbox_owner, number FROM incident
                        WHERE incident_key = ?
                        ORDER BY resolved_at IS NULL DESC, opened_at DESC, rowid DESC LIMIT 1
                        """),
                arguments: [key])
        case .none:
            row = nil
        }
        return row.map {
            IncidentRow(
                id: IncidentID($0[0] as String), number: $0[5], state: $0[1], version: $0[2], isResolved: $0[3],
                outboxOwner: $0[4])
        }
    }

    func loadParcels(_ incident: IncidentID) throws -> [AffectedParcel] {
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT p.waybill, p.customer_id, p.locale, group_concat(n.kind) AS kinds
                    FROM parcel p LEFT JOIN parcel_notice n ON n.incident_id = p.incident_id AND n.waybill = p.waybill
                    WHERE p.incident_id = ? GROUP BY p.waybill ORDER BY p.rowid
                    """),
            arguments: [incident.rawValue])
        return rows.map { row in
            let kinds: String? = row[3]
            let sent = Set((kinds ?? "").split(separator: ",").compactMap { NoticeKind(rawValue: String($0)) })
            return AffectedParcel(
                parcel: Parcel(waybill: row[0], customerID: row[1], locale: row[2]), noticesSent: sent)
        }
    }
}

/// An incident row with its state as stored.
struct IncidentRow {
    var id: IncidentID
    /// Where its rows are kept (schema v5).
    var number: Int64
    var state: Data
    var version: Int64
    var isResolved: Bool
    var outboxOwner: String?

    var basis: PreparedTransition.Basis { PreparedTransition.Basis(incident: id, version: version) }

    func decoded() throws -> StoredIncident {
        try StoredIncident(id: id.rawValue, storedJSON: state, version: version)
    }
}

/// Rows into values.
enum Rows {
    static func incident(_ row: Row) throws -> StoredIncident {
        try StoredIncident(id: row[0], storedJSON: row[1], version: row[2])
    }

    static func timeline(_ row: Row) throws -> TimelineRecord {
        let detailText: String = row[10]
        let detail = (try? StoredText.decode([String: String].self, from: detailText)) ?? [:]
        let department: String? = row[4]
        let contact: String? = row[5]
        let since: Int64? = row[8]
        return TimelineRecord(
            sequence: row[0], incident: IncidentID(row[1] as String),
            item: TimelineItem(
                at: Timestamp(millisecondsSinceEpoch: row[2]), kind: TimelineKind(rawValue: row[3]),
                department: department.map(DepartmentID.init(rawValue:)), contact: contact.map(ContactID.init(rawValue:)),
                channel: row[6], reference: row[7], sinceFirstPage: since.map { .milliseconds($0) }, summary: row[9],
                detail: detail))
    }

    static func outbox(_ row: Row) throws -> OutboxRecord {
        let propertiesText: String = row[5]
        let properties: MessageProperties
        do {
            properties = try StoredText.decodeProperties(propertiesText)
        } catch {
            throw IncidentStoreError(.corruptRow, "cannot decode the properties of outbox row \(row[0] as Int64): \(error)")
        }
        let incident: String? = row[1]
        let published: Int64? = row[8]
        return OutboxRecord(
            sequence: row[0], incident: incident.map(IncidentID.init(rawValue:)),
            message: OutboxMessage(
                messageID: row[2], exchange: row[3], routingKey: row[4], properties: properties, body: row[6]),
            createdAt: Timestamp(millisecondsSinceEpoch: row[7]),
            publishedAt: published.map(Timestamp.init(millisecondsSinceEpoch:)))
    }
}
