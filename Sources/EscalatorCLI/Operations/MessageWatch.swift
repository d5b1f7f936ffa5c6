public import AMQP
import Foundation
public import Logging

/// `escalator watch`: what the workers publish — pages, status updates, customer notices, dead
/// letters — printed as it arrives, for ops at a console and for the demo.
///
/// It reads from a queue of its own bound to the chosen exchanges, so it takes nothing away from
/// the gateways' queues. The queue is not durable and expires a minute after the watch stops
/// (`x-expires`), so a killed watch leaves nothing behind.
public enum MessageWatch {
    /// The exchanges a watch can follow, by the role they play.
    public enum Stream: String, Sendable, Hashable, CaseIterable {
        case pages, status, notices, dead

        public func exchange(_ names: EscalatorNames) -> String {
            switch self {
            case .pages: names.pagesExchange
            case .status: names.statusExchange
            case .notices: names.noticesExchange
            case .dead: names.deadLetterExchange
            }
        }
    }

    public enum Format: String, Sendable, Hashable, CaseIterable {
        /// One line per message (and the page or notice text below it with `showText`).
        case text
        /// One line per message: the body as published.
        case json
    }

    public struct Options: Sendable, Hashable {
        public var streams: [Stream] = [.pages, .status, .notices]
        /// Topic pattern per exchange, such as `page.*.operations`; `#` takes everything.
        public var bindingKey = "#"
        public var format: Format = .text
        public var showText = false
        /// Stop after this many messages; nil watches until stopped.
        public var count: Int?
        /// Stop after this long; nil watches until stopped.
        public var duration: Duration?

        public init() {}
    }

    /// A name no other watch uses: host, process and a random suffix.
    public static func queueName(prefix: String = "escalator.watch") -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(prefix).\(host).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The watch queue bound to each stream's exchange. The exchanges are declared as the
    /// workers declare them, so a watch started before any worker works, and one started against
    /// differently declared exchanges fails with the broker's reason instead of watching nothing.
    public static func topology(_ names: EscalatorNames, queue: String, options: Options) -> Topology {
        let escalator = Topology.escalator(names)
        let exchangeNames = options.streams.map { $0.exchange(names) }
        return Topology(
            exchanges: escalator.exchanges.filter { exchangeNames.contains($0.name) },
            queues: [
                Topology.Queue(
                    name: queue, durable: false,
                    arguments: ["x-expires": .int(60_000), "x-max-length": .int(100_000), "x-queue-type": "classic"])
            ],
            bindings: exchangeNames.map { Topology.Binding(queue: queue, exchange: $0, routingKey: options.bindingKey) })
    }

    /// Watches until `count` messages, `duration`, or the task is cancelled; each message is
    /// handed to `output` already formatted (without a final newline).
    public static func run(
        settings: OperatorSettings, options: Options, logger: Logger, ready: @Sendable () -> Void = {},
        output: @escaping @Sendable (String) -> Void
    ) async throws(CommandFailure) {
        let configuration = try settings.longRunningAMQP("watch")
        let queue = queueName()
        let topology = topology(settings.names, queue: queue, options: options)
        // Declared once up front so a wrong URL, password or exchange type fails the command at
        // once; the consumer declares it again on every reconnect.
        do {
            var once = configuration
            once.recovery.maximumAttempts = 1
            try await topology.declare(using: once, logger: logger)
        } catch {
            throw CommandFailure(
                "cannot watch through \(configuration.endpointDescription): \(error.message)"
                    + (error.isTransient ? ". Check amqp.url (ESCALATOR_AMQP_URL) and that the broker is running" : ""))
        }
        let consumer = AMQPConsumer(configuration: configuration, topology: topology, queue: queue, prefetch: 64, logger: logger)
        ready()
        let names = settings.names
        let deadline = options.duration.map { ContinuousClock.now + $0 }
        let outcome: CommandFailure? = await withTaskGroup(of: CommandFailure?.self) { group in
            group.addTask {
                var seen = 0
                do {
                    for try await delivery in consumer {
                        output(format(delivery, names: names, options: options))
                        consumer.ack(delivery)
                        seen += 1
                        if let count = options.count, seen >= count { return nil }
                    }
                    return Task.isCancelled ? nil : CommandFailure("the watch ended: \(consumer.state)")
                } catch {
                    return Task.isCancelled ? nil : CommandFailure("the watch stopped: \(error)")
                }
            }
            if let deadline {
                group.addTask {
                    try? await Task.sleep(until: deadline)
                    return nil
                }
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        await consumer.close(timeout: .seconds(2))
        if let outcome { throw outcome }
    }

    // MARK: Formatting

    public static func format(_ delivery: Delivery, names: EscalatorNames, options: Options, at date: Date = Date()) -> String {
        if options.format == .json {
            return String(decoding: delivery.body, as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
        }
        let time = clockTime(date)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(delivery.body))) as? [String: Any] else {
            return "\(time)  \(delivery.exchange) \(delivery.routingKey): \(delivery.body.count) bytes, not a JSON object"
        }
        func string(_ key: String) -> String { object[key].map { "\($0)" } ?? "?" }
        let drill = (object["drill"] as? Bool) == true ? " [drill]" : ""
        var lines: [String] = []
        switch object["schema"] as? String {
        case "page.v1":
            let contact = object["contact"] as? [String: Any] ?? [:]
            let who = [contact["id"], contact["name"]].compactMap { $0.map { "\($0)" } }.joined(separator: " ")
            let deadline = (object["ack_deadline"] as? String).map { " ack by \(shortTime($0))" } ?? ""
            lines.append(
                "\(time)  page    \(string("department")) r\(string("round"))s\(string("step")) → \(who) "
                    + "(\(contact["channel"] ?? "?") \(contact["address"] ?? "?"))\(deadline)\(drill)  \(string("page_id"))")
            if options.showText, let text = object["text"] as? String { lines += indented(text) }
        case "status.v1":
            let departments = (object["departments"] as? [[String: Any]] ?? []).map { department -> String in
                let name = department["department"].map { "\($0)" } ?? "?"
                switch department["state"] as? String {
                case "acknowledged": return "\(name) acked by \(department["acknowledged_by"] ?? "?")"
                case "paging": return "\(name) paging r\(department["round"] ?? "?")s\(department["step"] ?? "?")"
                case let state?: return "\(name) \(state)"
                case nil: return name
                }
            }
            lines.append(
                "\(time)  status  #\(string("seq")) \(string("state")) (\(string("reason")))\(drill)  "
                    + departments.joined(separator: ", "))
            if options.showText, let text = object["text"] as? String { lines += indented(text) }
        case "notice.v1":
            lines.append(
                "\(time)  notice  \(string("kind")) \(string("waybill")) → customer \(string("customer_id")) "
                    + "(\(string("locale")))\(drill)  \(delivery.routingKey)")
            if options.showText, let text = object["text"] as? String { lines += indented(text) }
        default:
            let reason = delivery.properties.headers["x-escalator-error"]?.stringValue.map { ": \($0)" } ?? ""
            lines.append(
                "\(time)  \(delivery.exchange == names.deadLetterExchange ? "dead  " : "other ") "
                    + "\(delivery.routingKey) \(object["schema"] ?? "no schema")\(reason)")
        }
        return lines.joined(separator: "\n")
    }

    private static func indented(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast(text.hasSuffix("\n") ? 1 : 0)
            .map { "          │ \($0)" }
    }

    /// `08:31:02` in UTC, as the wire times are.
    static func clockTime(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970) % 86_400
        return String(format: "%02d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
    }

    /// The time of day of an RFC 3339 time as written: `2026-11-29T08:31:12.000Z` → `08:31:12`.
    static func shortTime(_ rfc3339: String) -> String {
        guard let t = rfc3339.firstIndex(of: "T") else { return rfc3339 }
        return String(rfc3339[rfc3339.index(after: t)...].prefix(8))
    }
}
