import Foundation
import PlanFile

extension SimulatedTimeline {
    /// The timeline as a plan owner reads it in a review: one line per event, page and status
    /// texts indented below their line, then one sample notice per kind.
    public func text() -> String {
        var lines: [String] = []
        lines.append(
            "Simulating \(typeName) (\(type)), severity \(severity) \(severityName)\(drill ? ", drill" : ""), "
                + "\(affected) affected parcel\(affected == 1 ? "" : "s"), locale \(locale)")
        lines.append("")
        for entry in entries {
            lines.append(entry.line())
            if let text = entry.text, entry.kind == .page || entry.kind == .status {
                lines += text.split(separator: "\n", omittingEmptySubsequences: false)
                    .dropLast(text.hasSuffix("\n") ? 1 : 0)
                    .map { "           │ \($0)" }
            }
        }
        lines.append("")
        let pageCount = pages.count
        let noticeCount = entries.filter { $0.kind == .notices }.reduce(0) { $0 + ($1.count ?? 0) }
        let statusCount = entries.filter { $0.kind == .status }.count
        lines.append("End: \(end). \(pageCount) pages, \(statusCount) status updates, \(noticeCount) customer notices.")
        for sample in samples {
            lines.append("")
            lines.append("Sample \(sample.kind) notice (\(sample.waybill)):")
            lines += sample.text.split(separator: "\n", omittingEmptySubsequences: false)
                .dropLast(sample.text.hasSuffix("\n") ? 1 : 0)
                .map { "  \($0)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The timeline as JSON, keys sorted, for scripts and diffs.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let data = try? encoder.encode(self), let text = String(data: data, encoding: .utf8) else { return "{}\n" }
        return text + "\n"
    }
}

extension SimulatedTimeline.Entry {
    /// `+5m      page      operations r1s2  tam-mei-yee 譚美儀 (運營經理)  phone +852 5550 0302`
    func line() -> String {
        let time = offset.padding(toLength: 9, withPad: " ", startingAt: 0)
        let kindText = kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
        var parts: [String] = []
        switch kind {
        case .page:
            parts.append("\(department ?? "") r\(round ?? 0)s\(step ?? 0)")
            parts.append("\(contact ?? "")\(contactName.map { " \($0)" } ?? "")")
            parts.append("\(channel ?? "") \(address ?? "")")
            if let deadline = ackDeadlineOffsetMilliseconds {
                parts.append("ack by +\(DurationText.format(.milliseconds(deadline)))")
            }
        case .status:
            parts.append("#\(sequence ?? 0) \(state ?? ""): \(detail ?? "")")
        case .notices:
            parts.append("\(count ?? 0) × \(notice ?? "")")
        case .timeout:
            parts.append("\(department ?? "") r\(round ?? 0)s\(step ?? 0): \(detail ?? "")")
        default:
            if let department { parts.append("\(department):") }
            if let detail { parts.append(detail) }
        }
        return time + kindText + parts.joined(separator: "  ")
    }
}
