import CallTree
import Foundation
public import IncidentStore
import PlanFile
import WireContract

/// `escalator incidents` and `escalator timeline`: what the store knows, for the command centre
/// during an incident and for the review after it.
public enum IncidentReports {
    public enum Format: String, Sendable, Hashable, CaseIterable {
        case text, json
    }

    // MARK: incidents

    /// Open incidents, oldest first; with `includeResolved`, the most recent `limit` of all.
    public static func incidents(in store: any IncidentStore, includeResolved: Bool, limit: Int = 200) async throws(CommandFailure)
        -> [StoredIncident]
    {
        do {
            guard includeResolved else { return try await store.openIncidents() }
            return try await store.recentIncidents(limit: limit)
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("cannot read the incidents: \(error)")
        }
    }

    public static func incidentsText(_ incidents: [StoredIncident], includeResolved: Bool) -> String {
        guard !incidents.isEmpty else {
            return includeResolved ? "No incidents in the store.\n" : "No open incidents.\n"
        }
        var rows: [[String]] = [["ID", "KEY", "TYPE", "SEV", "STATE", "OPENED", "DEPARTMENTS", "TITLE"]]
        for stored in incidents {
            let state = stored.state
            rows.append([
                state.id.rawValue, state.key, state.type.rawValue, state.severity.roman,
                state.overallStatus.rawValue + (state.drill ? " (drill)" : ""), RFC3339.format(state.openedAt),
                departmentSummary(state), state.title,
            ])
        }
        return table(rows) + "\(incidents.count) \(includeResolved ? "incident" : "open incident")\(incidents.count == 1 ? "" : "s")\n"
    }

    /// `6 engaged: 1 acknowledged (operations), 5 paging`.
    static func departmentSummary(_ state: IncidentState) -> String {
        guard !state.departments.isEmpty else { return "none engaged" }
        var acknowledged: [String] = []
        var paging = 0
        var exhausted: [String] = []
        for branch in state.departments {
            switch branch.progress {
            case .acknowledged: acknowledged.append(branch.department.rawValue)
            case .paging: paging += 1
            case .exhausted: exhausted.append(branch.department.rawValue)
            }
        }
        var parts: [String] = []
        if !acknowledged.isEmpty { parts.append("\(acknowledged.count) acknowledged (\(acknowledged.joined(separator: ", ")))") }
        // A resolution stops the paging where it stood: those departments never answered.
        if paging > 0 { parts.append(state.isResolved ? "\(paging) not acknowledged" : "\(paging) paging") }
        if !exhausted.isEmpty { parts.append("\(exhausted.count) exhausted (\(exhausted.joined(separator: ", ")))") }
        return "\(state.departments.count) engaged: " + parts.joined(separator: ", ")
    }

    public static func incidentsJSON(_ incidents: [StoredIncident]) -> String {
        json(incidents.map { IncidentSummary($0.state) })
    }

    struct IncidentSummary: Encodable {
        struct Department: Encodable {
            var department: String
            var state: String
            var round: Int?
            var step: Int?
            var acknowledgedBy: String?
            var acknowledgedAt: String?
            var exhaustedAt: String?
        }

        var id: String
        var key: String
        var type: String
        var severity: Int
        var title: String
        var state: String
        var drill: Bool
        var openedAt: String
        var resolvedAt: String?
        var affectedParcels: Int
        var departments: [Department]

        init(_ state: IncidentState) {
            id = state.id.rawValue
            key = state.key
            type = state.type.rawValue
            severity = state.severity.rawValue
            title = state.title
            self.state = state.overallStatus.rawValue
            drill = state.drill
            openedAt = RFC3339.format(state.openedAt)
            resolvedAt = state.resolution.map { RFC3339.format($0.at) }
            affectedParcels = state.affectedParcels
            departments = state.departments.map { branch in
                switch branch.progress {
                case .paging(let position, _):
                    Department(department: branch.department.rawValue, state: "paging", round: position.round, step: position.step)
                case .acknowledged(let contact, let at):
                    Department(
                        department: branch.department.rawValue, state: "acknowledged", acknowledgedBy: contact.rawValue,
                        acknowledgedAt: RFC3339.format(at))
                case .exhausted(let at):
                    Department(department: branch.department.rawValue, state: "exhausted", exhaustedAt: RFC3339.format(at))
                }
            }
        }
    }

    // MARK: timeline

    public struct TimelineReport: Sendable {
        public var incident: StoredIncident
        public var records: [TimelineRecord]
        public var acknowledgements: [AckStatistic]
    }

    /// The incident named by id or, failing that, by key (the open incident with the key, else
    /// the most recent resolved one).
    public static func timeline(of reference: String, in store: any IncidentStore) async throws(CommandFailure) -> TimelineReport {
        do {
            let found: StoredIncident?
            if let byID = try await store.incident(.id(IncidentID(reference))) {
                found = byID
            } else {
                found = try await store.incident(.key(reference))
            }
            guard let incident = found else {
                throw CommandFailure(
                    "no incident with id or key '\(reference)' in the store; `escalator incidents --all` lists them", exitCode: 1)
            }
            let records = try await store.timeline(of: incident.id)
            let acknowledgements = try await store.ackStatistics(AckStatisticsQuery(drills: .included, incident: incident.id))
            return TimelineReport(incident: incident, records: records, acknowledgements: acknowledgements)
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("cannot read the timeline of '\(reference)': \(error)")
        }
    }

    public static func timelineText(_ report: TimelineReport) -> String {
        let state = report.incident.state
        var lines: [String] = []
        lines.append(
            "Incident \(state.id) (key \(state.key)): \(state.title)")
        lines.append(
            "\(state.type), severity \(state.severity.roman)\(state.drill ? ", drill" : ""), opened \(RFC3339.format(state.openedAt)), "
                + "now \(state.overallStatus.rawValue)"
                + (state.resolution.map { " at +\(offset($0.at, from: state.openedAt)) by \($0.by)" } ?? ""))
        lines.append("")
        var rows: [[String]] = [["AT", "KIND", "DEPARTMENT", "CONTACT", "CHANNEL", "SUMMARY"]]
        for record in report.records {
            let item = record.item
            rows.append([
                "+" + offset(item.at, from: state.openedAt), item.kind.rawValue, item.department?.rawValue ?? "",
                item.contact?.rawValue ?? "", item.channel ?? "", item.summary,
            ])
        }
        lines += table(rows).split(separator: "\n").map(String.init)
        lines.append("")
        lines.append("Time to acknowledge:")
        let byDepartment = Dictionary(grouping: report.acknowledgements, by: \.department)
        for branch in state.departments {
            let department = branch.department
            guard let statistics = byDepartment[department], let total = statistics.first(where: { $0.contact == nil }) else {
                let outcome: String
                switch branch.progress {
                case .exhausted(let at): outcome = "not acknowledged: exhausted at +\(offset(at, from: state.openedAt))"
                case .paging(let position, _) where state.isResolved:
                    outcome = "not acknowledged before the resolution (paging had reached \(position))"
                case .paging(let position, _): outcome = "not acknowledged yet: paging \(position)"
                case .acknowledged(let contact, let at):
                    outcome = "acknowledged by \(contact) at +\(offset(at, from: state.openedAt))"
                }
                lines.append("  \(department.rawValue.padding(18)) \(outcome)")
                continue
            }
            let contacts = statistics.filter { $0.contact != nil }
                .map { "\($0.contact!.rawValue) \(duration($0.fastest))" }
                .joined(separator: ", ")
            lines.append(
                "  \(department.rawValue.padding(18)) \(duration(total.fastest)) after the first page"
                    + (total.acknowledgements > 1 ? " (\(total.acknowledgements) acks, slowest \(duration(total.slowest)))" : "")
                    + (contacts.isEmpty ? "" : " — \(contacts)"))
        }
        if state.departments.isEmpty { lines.append("  no department was engaged") }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func timelineJSON(_ report: TimelineReport) -> String {
        struct Entry: Encodable {
            var at: String
            var offsetMs: Int64
            var kind: String
            var department: String?
            var contact: String?
            var channel: String?
            var reference: String?
            var sinceFirstPageMs: Int64?
            var summary: String
            var detail: [String: String]?
        }
        struct Acknowledgement: Encodable {
            var department: String
            var contact: String?
            var acknowledgements: Int
            var fastestMs: Int64
            var slowestMs: Int64
            var meanMs: Int64
        }
        struct Document: Encodable {
            var incident: IncidentSummary
            var timeline: [Entry]
            var timeToAcknowledge: [Acknowledgement]
        }
        let opened = report.incident.state.openedAt
        return json(
            Document(
                incident: IncidentSummary(report.incident.state),
                timeline: report.records.map { record in
                    let item = record.item
                    return Entry(
                        at: RFC3339.format(item.at), offsetMs: (item.at - opened).milliseconds,
                        kind: item.kind.rawValue, department: item.department?.rawValue, contact: item.contact?.rawValue,
                        channel: item.channel, reference: item.reference, sinceFirstPageMs: item.sinceFirstPage?.milliseconds,
                        summary: item.summary, detail: item.detail.isEmpty ? nil : item.detail)
                },
                timeToAcknowledge: report.acknowledgements.map {
                    Acknowledgement(
                        department: $0.department.rawValue, contact: $0.contact?.rawValue, acknowledgements: $0.acknowledgements,
                        fastestMs: $0.fastest.milliseconds, slowestMs: $0.slowest.milliseconds, meanMs: $0.mean.milliseconds)
                }))
    }

    // MARK: Helpers

    /// `12.3s` under a minute (demo and drill timelines move in seconds), else `1h02m05s`.
    static func offset(_ time: Timestamp, from start: Timestamp) -> String {
        duration(time - start)
    }

    static func duration(_ duration: Duration) -> String {
        let milliseconds = duration.milliseconds
        if milliseconds < 0 { return "-" + Self.duration(.milliseconds(-milliseconds)) }
        if milliseconds < 60_000 { return String(format: "%.1fs", Double(milliseconds) / 1000) }
        return DurationText.format(duration)
    }

    /// Columns padded to their widest cell (CJK characters count two); the last column unpadded.
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.first?.count else { return "" }
        var widths = Array(repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() where index < columns - 1 {
                widths[index] = max(widths[index], cell.terminalWidth)
            }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == columns - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.terminalWidth + 2)
            }.joined()
        }.joined(separator: "\n") + "\n"
    }

    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let data = try? encoder.encode(value) else { return "null\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

extension String {
    var terminalWidth: Int {
        reduce(0) { $0 + ($1.unicodeScalars.first.map { $0.value >= 0x1100 ? 2 : 1 } ?? 1) }
    }
}
