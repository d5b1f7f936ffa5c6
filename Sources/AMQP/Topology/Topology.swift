/// Exchanges, queues and bindings, declared on every (re)connection. Declaring is idempotent:
/// the broker accepts an identical declaration and refuses one that differs.
public struct Topology: Sendable, Hashable {
    public struct Exchange: Sendable, Hashable {
        public var name: String
        /// `topic`, `fanout`, `direct` or `headers`.
        public var type: String
        public var durable: Bool
        public var arguments: AMQPTable

        public init(name: String, type: String = "topic", durable: Bool = true, arguments: AMQPTable = [:]) {
            self.name = name
            self.type = type
            self.durable = durable
            self.arguments = arguments
        }
    }

    public struct Queue: Sendable, Hashable {
        public var name: String
        public var durable: Bool
        public var arguments: AMQPTable

        public init(name: String, durable: Bool = true, arguments: AMQPTable = [:]) {
            self.name = name
            self.durable = durable
            self.arguments = arguments
        }

        /// A durable quorum queue that hands poison messages (redelivered `deliveryLimit` times)
        /// and rejected ones to `deadLetterExchange`, at least once.
        public static func quorum(name: String, deliveryLimit: Int, deadLetterExchange: String?) -> Queue {
            var arguments: AMQPTable = ["x-queue-type": "quorum", "x-delivery-limit": .int(Int64(deliveryLimit))]
            if let deadLetterExchange {
                arguments["x-dead-letter-exchange"] = .string(deadLetterExchange)
                // at-least-once dead-lettering requires reject-publish overflow.
                arguments["x-dead-letter-strategy"] = "at-least-once"
                arguments["x-overflow"] = "reject-publish"
            }
            return Queue(name: name, arguments: arguments)
        }
    }

    public struct Binding: Sendable, Hashable {
        public var queue: String
        public var exchange: String
        public var routingKey: String

        public init(queue: String, exchange: String, routingKey: String) {
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    public var exchanges: [Exchange]
    public var queues: [Queue]
    public var bindings: [Binding]

    public init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }

    /// Escalator's topology (DESIGN.md): topic exchanges for incidents, pages, notices and
    /// status; quorum queues for incidents and replies that dead-letter to `escalator.dead`.
    public static func escalator(_ names: EscalatorNames = EscalatorNames(), deliveryLimit: Int = 5) -> Topology {
        Topology(
            exchanges: [
                Exchange(name: names.incidentsExchange),
                Exchange(name: names.pagesExchange),
                Exchange(name: names.noticesExchange),
                Exchange(name: names.statusExchange),
                // fanout: whatever its routing key, a dead letter lands in the dead-letter queue.
                Exchange(name: names.deadLetterExchange, type: "fanout"),
            ],
            queues: [
                .quorum(name: names.incidentsQueue, deliveryLimit: deliveryLimit, deadLetterExchange: names.deadLetterExchange),
                .quorum(name: names.repliesQueue, deliveryLimit: deliveryLimit, deadLetterExchange: names.deadLetterExchange),
                Queue(name: names.deadLetterQueue, arguments: ["x-queue-type": "quorum"]),
            ],
            bindings: [
                Binding(queue: names.incidentsQueue, exchange: names.incidentsExchange, routingKey: names.incidentsBindingKey),
                Binding(queue: names.deadLetterQueue, exchange: names.deadLetterExchange, routingKey: "#"),
            ]
        )
    }
}

/// The names of Escalator's exchanges and queues; the defaults are DESIGN.md's.
public struct EscalatorNames: Sendable, Hashable {
    public var incidentsExchange = "incidents"
    public var pagesExchange = "pages"
    public var noticesExchange = "notices"
    public var statusExchange = "status"
    public var incidentsQueue = "escalator.incidents"
    public var incidentsBindingKey = "incident.#"
    public var repliesQueue = "escalator.replies"
    public var deadLetterExchange = "escalator.dead"
    public var deadLetterQueue = "escalator.dead"

    public init() {}

    /// Every name with `prefix` in front: separate sets on one broker (tests, staging).
    public static func prefixed(_ prefix: String) -> EscalatorNames {
        var names = EscalatorNames()
        names.incidentsExchange = prefix + names.incidentsExchange
        names.pagesExchange = prefix + names.pagesExchange
        names.noticesExchange = prefix + names.noticesExchange
        names.statusExchange = prefix + names.statusExchange
        names.incidentsQueue = prefix + names.incidentsQueue
        names.repliesQueue = prefix + names.repliesQueue
        names.deadLetterExchange = prefix + names.deadLetterExchange
        names.deadLetterQueue = prefix + names.deadLetterQueue
        return names
    }
}
