public import AMQP
public import CallTree
import Foundation
import PlanFile
public import WireContract

/// `escalator publish`: an `incident.v1` event written from flags or read from a file, checked
/// against the contract (and the plan's incident types) before it leaves, so a bad event is
/// refused here with the message the worker would dead-letter it with.
public enum IncidentPublishing {
    /// The flags of `escalator publish`, as typed.
    public struct Flags: Sendable, Hashable {
        public var eventID: String?
        public var action: String = "trigger"
        public var key: String?
        public var type: String?
        public var severity: String?
        public var title: String?
        public var details: String?
        public var site: String?
        public var region: String?
        public var occurredAt: String?
        public var eta: String?
        public var affected: Int?
        public var affectedFile: String?
        public var locale: String?
        public var drill = false

        public init() {}
    }

    /// An event ready to publish: its bytes exactly as sent, and what the contract read in them.
    public struct PreparedEvent: Sendable, Hashable {
        public var body: [UInt8]
        public var message: IncidentMessage

        /// `incident.<type>`; an update or resolve that names no type is routed as
        /// `incident.untyped` (the workers' `incident.#` binding takes it all the same).
        public var routingKey: String {
            message.type.map(RoutingKey.incident) ?? "incident.untyped"
        }

        public func outbound(_ names: EscalatorNames) -> OutboundMessage {
            OutboundMessage(
                exchange: names.incidentsExchange, routingKey: routingKey, body: body,
                properties: MessageProperties(
                    contentType: "application/json", persistent: true, messageID: message.eventID,
                    appID: "escalator publish"))
        }

        public var receipt: String {
            "published \(message.action.rawValue) event \(message.eventID) for incident key \(message.incidentKey)"
                + (message.drill ? " (drill)" : "")
        }
    }

    // MARK: From flags

    public static func event(
        from flags: Flags, knownTypes: Set<IncidentTypeID>, now: Date = Date(), newID: () -> String = { UUID().uuidString.lowercased() }
    ) throws(CommandFailure) -> PreparedEvent {
        guard let action = IncidentMessage.Action(rawValue: flags.action) else {
            throw .invalidInput("--action must be trigger, update or resolve, not '\(flags.action)'")
        }
        guard let key = flags.key, !key.isEmpty else {
            throw .invalidInput("--key is required: the incident key that groups the events of one incident, such as kc-hub-fire")
        }
        if action == .trigger {
            var missing: [String] = []
            if flags.type == nil { missing.append("--type") }
            if flags.severity == nil { missing.append("--severity") }
            if flags.title == nil { missing.append("--title") }
            guard missing.isEmpty else {
                throw .invalidInput("a trigger needs \(missing.joined(separator: ", ")) (see escalator publish --help)")
            }
        }
        var severity: Int?
        if let text = flags.severity {
            guard let parsed = SimulationArguments.severity(text) else {
                throw .invalidInput("--severity must be 1, 2, 3 or 4 (or I, II, III, IV), not '\(text)'")
            }
            severity = parsed.rawValue
        }
        let occurredAt = try flags.occurredAt.map { text throws(CommandFailure) in try time(text, flag: "--occurred-at", now: now) }
            ?? RFC3339.format(Timestamp(now))
        let eta = try flags.eta.map { text throws(CommandFailure) in try time(text, flag: "--eta", now: now, futureDurations: true) }
        let parcels = try affected(flags)
        let body = IncidentEventBody(
            eventID: flags.eventID ?? newID(), action: action, incidentKey: key, type: flags.type, severity: severity,
            title: flags.title, details: flags.details, site: flags.site, region: flags.region, occurredAt: occurredAt,
            eta: eta, affected: parcels.isEmpty ? nil : parcels, drill: flags.drill ? true : nil)
        let bytes: [UInt8]
        do {
            bytes = try WireJSON.encode(body)
        } catch {
            throw CommandFailure("cannot encode the event: \(error)")
        }
        return try validated(bytes, knownTypes: knownTypes, source: "the flags")
    }

    /// An RFC 3339 time, or for `--eta` a duration from now such as `2h`.
    static func time(_ text: String, flag: String, now: Date, futureDurations: Bool = false) throws(CommandFailure) -> String {
        if let timestamp = RFC3339.parse(text) { return RFC3339.format(timestamp) }
        if futureDurations, case .success(let duration) = DurationText.parse(text) {
            return RFC3339.format(Timestamp(now) + duration)
        }
        throw .invalidInput(
            "\(flag) must be an RFC 3339 time such as 2026-11-29T08:15:00+08:00"
                + (futureDurations ? ", or a duration from now such as 90m" : "") + ", not '\(text)'")
    }

    /// `--affected N` makes N parcels WB000000001… for customers C000001…; `--affected-file`
    /// reads a JSON list of `{waybill, customer_id, locale?}` or lines `waybill,customer_id[,locale]`.
    static func affected(_ flags: Flags) throws(CommandFailure) -> [IncidentEventBody.AffectedParcel] {
        var parcels: [IncidentEventBody.AffectedParcel] = []
        if let count = flags.affected {
            guard (0...100_000).contains(count) else { throw .invalidInput("--affected must be from 0 to 100000, not \(count)") }
            parcels += (0..<count).map { index in
                .init(waybill: "WB" + padded(index + 1, 9), customerID: "C" + padded(index + 1, 6), locale: flags.locale)
            }
        }
        if let path = flags.affectedFile {
            parcels += try affectedParcels(file: path, locale: flags.locale)
        }
        return parcels
    }

    static func affectedParcels(file path: String, locale: String?) throws(CommandFailure) -> [IncidentEventBody.AffectedParcel] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .invalidInput("--affected-file \(path) cannot be read")
        }
        let text = String(decoding: data, as: UTF8.self)
        if text.drop(while: \.isWhitespace).first == "[" {
            guard let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
                throw .invalidInput("--affected-file \(path) is not a JSON list of {\"waybill\": ..., \"customer_id\": ...} objects")
            }
            var parcels: [IncidentEventBody.AffectedParcel] = []
            for (index, entry) in list.enumerated() {
                guard let waybill = entry["waybill"] as? String, let customer = entry["customer_id"] as? String else {
                    throw .invalidInput("--affected-file \(path): entry \(index + 1) needs string fields waybill and customer_id")
                }
                parcels.append(.init(waybill: waybill, customerID: customer, locale: entry["locale"] as? String ?? locale))
            }
            return parcels
        }
        var parcels: [IncidentEventBody.AffectedParcel] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard (2...3).contains(fields.count), !fields[0].isEmpty, !fields[1].isEmpty else {
                throw .invalidInput("--affected-file \(path):\(index + 1): expected waybill,customer_id[,locale], found '\(trimmed)'")
            }
            parcels.append(.init(waybill: fields[0], customerID: fields[1], locale: fields.count == 3 && !fields[2].isEmpty ? fields[2] : locale))
        }
        return parcels
    }

    private static func padded(_ number: Int, _ width: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    // MARK: From a file

    /// The file's bytes go out unchanged once the contract accepts them.
    public static func event(file path: String, knownTypes: Set<IncidentTypeID>) throws(CommandFailure) -> PreparedEvent {
        guard let data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: path)
        else {
            throw .invalidInput("--file \(path) cannot be read")
        }
        return try validated(Array(data), knownTypes: knownTypes, source: path == "-" ? "standard input" : path)
    }

    static func validated(_ bytes: [UInt8], knownTypes: Set<IncidentTypeID>, source: String) throws(CommandFailure) -> PreparedEvent {
        do {
            return PreparedEvent(body: bytes, message: try IncidentMessage(bytes: bytes, knownTypes: knownTypes))
        } catch {
            throw .invalidInput("the event from \(source) breaks the incident.v1 contract, so it was not sent: \(error.message)")
        }
    }
}
