public import AMQP
public import Logging

/// `escalator topology`: declares Escalator's exchanges, queues and bindings (as every worker
/// does when it starts) and describes them, so ops can prepare a broker before the first worker
/// and upstream teams can see where to publish.
public enum TopologyDeclaration {
    public static func declare(settings: OperatorSettings, logger: Logger) async throws(CommandFailure) -> Topology {
        let configuration = try settings.oneShotAMQP("topology")
        let topology = Topology.escalator(settings.names)
        do {
            try await topology.declare(using: configuration, logger: logger)
        } catch {
            throw CommandFailure(
                "could not declare the topology on \(configuration.endpointDescription): \(error.message)"
                    + (error.isTransient ? ". Check amqp.url (ESCALATOR_AMQP_URL) and that the broker is running" : ""))
        }
        return topology
    }

    /// Declares and describes, for the command.
    public static func run(settings: OperatorSettings, logger: Logger) async throws(CommandFailure) -> String {
        let topology = try await declare(settings: settings, logger: logger)
        return describe(topology, endpoint: try settings.oneShotAMQP("topology").endpointDescription)
    }

    /// Exchanges with their types, queues with their arguments, bindings: one line each.
    public static func describe(_ topology: Topology, endpoint: String) -> String {
        var lines = ["Declared on \(endpoint):", "", "Exchanges:"]
        let width = (topology.exchanges.map(\.name.count) + topology.queues.map(\.name.count)).max() ?? 0
        for exchange in topology.exchanges {
            lines.append(
                "  \(pad(exchange.name, width))  \(exchange.type)\(exchange.durable ? ", durable" : "")"
                    + arguments(exchange.arguments))
        }
        lines += ["", "Queues:"]
        for queue in topology.queues {
            lines.append("  \(pad(queue.name, width))  \(queue.durable ? "durable" : "transient")" + arguments(queue.arguments))
        }
        lines += ["", "Bindings:"]
        for binding in topology.bindings {
            lines.append("  \(binding.exchange) —\(binding.routingKey)→ \(binding.queue)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }

    private static func arguments(_ table: AMQPTable) -> String {
        guard !table.isEmpty else { return "" }
        return ", " + table.keys.sorted().map { key in "\(key)=\(value(table[key]!))" }.joined(separator: ", ")
    }

    private static func value(_ value: AMQPFieldValue) -> String {
        switch value {
        case .bool(let flag): "\(flag)"
        case .int(let number): "\(number)"
        case .double(let number): "\(number)"
        case .string(let text): text
        case .bytes(let bytes): String(decoding: bytes, as: UTF8.self)
        case .timestamp(let seconds): "\(seconds)"
        case .table(let table): "{" + table.keys.sorted().map { "\($0)=\(Self.value(table[$0]!))" }.joined(separator: ", ") + "}"
        case .array(let values): "[" + values.map(Self.value).joined(separator: ", ") + "]"
        case .void: "void"
        }
    }
}
