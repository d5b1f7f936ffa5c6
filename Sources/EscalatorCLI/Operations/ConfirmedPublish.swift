public import AMQP
import Foundation
public import Logging

/// Publishes one message and waits for the broker to take responsibility for it: a message that
/// comes back unroutable, is refused, or cannot be sent at all becomes a `CommandFailure` that
/// says which, so a script calling `escalator publish` can trust exit status 0.
public enum ConfirmedPublish {
    /// How long a one-shot command waits for the broker before giving up.
    public static let defaultDeadline: Duration = .seconds(30)

    /// Publishes on a connection of its own and closes it.
    public static func send(
        _ message: OutboundMessage, describing what: String, configuration: AMQPConfiguration, logger: Logger,
        deadline: Duration = defaultDeadline
    ) async throws(CommandFailure) {
        let publisher = AMQPPublisher(configuration: configuration, logger: logger)
        let result: Result<PublishOutcome, CommandFailure> = await withTaskGroup(of: Result<PublishOutcome, CommandFailure>?.self) {
            group in
            group.addTask {
                do throws(AMQPError) {
                    return .success(try await publisher.publish(message))
                } catch {
                    return .failure(unreachable(error, configuration: configuration))
                }
            }
            group.addTask {
                try? await Task.sleep(for: deadline)
                return Task.isCancelled ? nil : .failure(
                    CommandFailure(
                        "no confirm from \(configuration.endpointDescription) within \(deadline) for \(what): "
                            + "the broker may be overloaded or blocking publishers (disk or memory alarm); check it"))
            }
            // The first to finish decides; the deadline task ends at once when cancelled.
            let first = await group.next()!!
            group.cancelAll()
            // Nothing is outstanding after a confirm; after the deadline the waiting publish
            // fails when its publisher closes, so the group can end.
            await publisher.close(timeout: .zero)
            return first
        }
        try check(result.get(), describing: what, exchange: message.exchange, routingKey: message.routingKey)
    }

    /// The same, through any publisher: tests use a stub to reach every outcome.
    public static func send(
        _ message: OutboundMessage, describing what: String, through publisher: any AMQPPublishing
    ) async throws(CommandFailure) {
        let outcome: PublishOutcome
        do {
            outcome = try await publisher.publish(message)
        } catch {
            throw CommandFailure("could not publish \(what): \(error.message)")
        }
        try check(outcome, describing: what, exchange: message.exchange, routingKey: message.routingKey)
    }

    /// Confirmed is success; a return, a nack or a message that cannot be sent is a failure naming
    /// the exchange and routing key.
    public static func check(
        _ outcome: PublishOutcome, describing what: String, exchange: String, routingKey: String
    ) throws(CommandFailure) {
        let target = exchange.isEmpty ? "queue '\(routingKey)'" : "exchange '\(exchange)' with routing key '\(routingKey)'"
        switch outcome {
        case .confirmed:
            return
        case .returned(let code, let text) where code == 404:
            throw CommandFailure(
                "\(what) was not published: \(target) does not exist (\(text)). Start a worker, or run "
                    + "`escalator topology` to declare the exchanges and queues")
        case .returned(let code, let text) where exchange.isEmpty:
            throw CommandFailure(
                "\(what) was returned unroutable by the broker (\(code) \(text)): there is no queue '\(routingKey)'. "
                    + "Start a worker, or run `escalator topology` to declare the queues")
        case .returned(let code, let text):
            throw CommandFailure(
                "\(what) was returned unroutable by the broker (\(code) \(text)): no queue is bound to \(target). "
                    + "Start a worker, or run `escalator topology` to declare the queues and bindings")
        case .nacked:
            throw CommandFailure(
                "\(what) was refused by the broker (nack) on \(target): the queue may be full (reject-publish) or the "
                    + "broker failed to store it; nothing was delivered, publish it again once the queue drains")
        case .unpublishable(let reason):
            throw CommandFailure("\(what) was not sent to \(target): \(reason)")
        }
    }

    static func unreachable(_ error: AMQPError, configuration: AMQPConfiguration) -> CommandFailure {
        CommandFailure(
            "cannot publish through \(configuration.endpointDescription): \(error.message). Check amqp.url "
                + "(ESCALATOR_AMQP_URL) and that the broker is running")
    }
}
