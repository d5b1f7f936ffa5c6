public import AMQP
public import CRabbitMQ

/// A bare rabbitmq-c connection with one channel, outside the AMQP adapter: the raw relay's
/// loop, and the benchmarks' set-up and queue watching, which the adapter has no call for.
public final class RawConnection {
    public let state: amqp_connection_state_t

    public init(_ configuration: AMQPConfiguration, name: String) throws(RawAMQPError) {
        state = amqp_new_connection()
        let socket = amqp_tcp_socket_new(state)
        guard let socket, amqp_socket_open(socket, configuration.host, Int32(configuration.port)) == AMQP_STATUS_OK.rawValue
        else {
            amqp_destroy_connection(state)
            throw RawAMQPError("\(name): cannot connect to \(configuration.host):\(configuration.port)")
        }
        let login = escalator_amqp_login_plain(
            state, configuration.virtualHost, 0, 131_072, Int32(configuration.heartbeat.components.seconds),
            configuration.user, configuration.password)
        guard login.reply_type == AMQP_RESPONSE_NORMAL else {
            amqp_destroy_connection(state)
            throw RawAMQPError("\(name): login failed")
        }
        amqp_channel_open(state, 1)
        do {
            try check("\(name): channel.open")
        } catch {
            amqp_destroy_connection(state)
            throw error
        }
    }

    /// Throws unless the last synchronous call succeeded.
    public func check(_ what: String) throws(RawAMQPError) {
        let reply = amqp_get_rpc_reply(state)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else { throw RawAMQPError("\(what) failed") }
    }

    /// Messages ready for delivery in `queue` (not those delivered and not yet acknowledged),
    /// by a passive `queue.declare`.
    public func readyMessages(in queue: String) throws(RawAMQPError) -> Int {
        let ok = queue.withCString {
            amqp_queue_declare(state, 1, amqp_cstring_bytes($0), 1, 0, 0, 0, escalator_amqp_empty_table())
        }
        guard let ok else { throw RawAMQPError("passive queue.declare of \(queue) failed") }
        return Int(ok.pointee.message_count)
    }

    public func deleteQueue(_ name: String) {
        name.withCString { _ = amqp_queue_delete(state, 1, amqp_cstring_bytes($0), 0, 0) }
    }

    public func close() {
        _ = amqp_channel_close(state, 1, Int32(AMQP_REPLY_SUCCESS))
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        amqp_destroy_connection(state)
    }
}

public struct RawAMQPError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
