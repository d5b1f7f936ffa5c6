import AMQP

/// The backlog phase measures the worker as the raw relay is measured: its source queue is full
/// before it starts, and what it publishes stays in a quorum queue nobody consumes. The live
/// phases cannot: while the worker runs, this benchmark also publishes every trigger (with
/// confirms) and consumes every output, on the same broker and the same two cores.
enum Backlog {
    /// Department and incident type of the backlog's incidents in benchmark-plan.yaml; their
    /// steps wait 10 minutes, so nothing more is published for them during the run.
    static let type = "backlog"
    static let department = "backlog-desk"

    /// The sink's bindings: the trigger's page and status update of each backlog incident.
    static func sinkTopology(names: EscalatorNames, sink: String) -> Topology {
        var topology = Topology.escalator(names)
        topology.queues.append(Topology.Queue(name: sink, arguments: ["x-queue-type": "quorum"]))
        topology.bindings.append(.init(queue: sink, exchange: names.pagesExchange, routingKey: "page.*.\(department)"))
        topology.bindings.append(.init(queue: sink, exchange: names.statusExchange, routingKey: "status.\(type).#"))
        return topology
    }
}
