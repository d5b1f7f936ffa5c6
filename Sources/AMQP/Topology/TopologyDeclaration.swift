import CRabbitMQ
import Foundation
import Logging

extension Topology {
    /// Declares everything on `connection`'s channel 1 (runs on the connection's thread).
    func declare(on connection: ConnectionHandle) throws(AMQPError) {
        for exchange in exchanges {
            let arena = CArena()
            amqp_exchange_declare(
                connection.state, ConnectionHandle.channel, arena.bytes(exchange.name), arena.bytes(exchange.type),
                0, exchange.durable ? 1 : 0, 0, 0, arena.table(exchange.arguments))
            try Self.check(connection, amqp_get_rpc_reply(connection.state), kind: "exchange", name: exchange.name)
        }
        for queue in queues {
            let arena = CArena()
            amqp_queue_declare(
                connection.state, ConnectionHandle.channel, arena.bytes(queue.name), 0, queue.durable ? 1 : 0, 0, 0,
                arena.table(queue.arguments))
            try Self.check(connection, amqp_get_rpc_reply(connection.state), kind: "queue", name: queue.name)
        }
        for binding in bindings {
            let arena = CArena()
            amqp_queue_bind(
                connection.state, ConnectionHandle.channel, arena.bytes(binding.queue), arena.bytes(binding.exchange),
                arena.bytes(binding.routingKey), escalator_amqp_empty_table())
            try Self.check(
                connection, amqp_get_rpc_reply(connection.state), kind: "binding",
                name: "\(binding.queue) ← \(binding.exchange) '\(binding.routingKey)'")
        }
    }

    private static func check(_ connection: ConnectionHandle, _ reply: amqp_rpc_reply_t, kind: String, name: String) throws(AMQPError) {
        let action = "declaring \(kind) '\(name)'"
        do {
            try connection.check(reply, doing: action)
        } catch where error.brokerReplyCode == 406 {
            // The broker's text names the argument: "inequivalent arg 'x-delivery-limit' for queue ...".
            var brokerText = Substring(error.message)
            let repeatedContext = "broker closed the channel while \(action): "
            if brokerText.hasPrefix(repeatedContext) { brokerText = brokerText.dropFirst(repeatedContext.count) }
            throw AMQPError(
                .topologyMismatch,
                "\(kind) '\(name)' already exists with different settings: \(brokerText). Make the configuration match the existing \(kind), or delete the \(kind) so it is declared anew (its messages are lost)",
                brokerReplyCode: 406)
        }
    }

    /// Declares the topology on a short-lived connection of its own, off the cooperative pool.
    /// Throws `.topologyMismatch` naming the differing argument when a queue or exchange exists
    /// with other settings.
    public func declare(using configuration: AMQPConfiguration, logger: Logger) async throws(AMQPError) {
        let topology = self
        let result: Result<Void, AMQPError> = await runOnOwnThread(named: "amqp:declare") {
            () throws(AMQPError) -> Void in
            let connection = try ConnectionHandle.open(configuration, logger: logger)
            defer { connection.close() }
            try topology.declare(on: connection)
        }
        try result.get()
    }
}

/// Runs blocking rabbitmq-c work on a fresh thread and resumes the caller with its result.
func runOnOwnThread<Value: Sendable>(
    named name: String, _ work: @escaping @Sendable () throws(AMQPError) -> Value
) async -> Result<Value, AMQPError> {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            do throws(AMQPError) {
                continuation.resume(returning: .success(try work()))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
        thread.name = name
        thread.start()
    }
}
