import CRabbitMQ
import Foundation
import Logging

/// One rabbitmq-c connection with channel 1 open. Not thread-safe, by design: exactly one
/// thread owns it, makes every call on it and destroys it.
final class ConnectionHandle {
    static let channel: amqp_channel_t = 1

    let state: amqp_connection_state_t
    let configuration: AMQPConfiguration
    private let heartbeatTimeout: Duration
    /// `host:port`, as errors name the broker.
    private var endpoint: String { "\(configuration.host):\(configuration.port)" }
    private var lastInbound: ContinuousClock.Instant
    /// Set on every frame; the clock is read only when the thread is about to wait.
    private var receivedSinceLastWait = false
    private var isDestroyed = false
    /// Until when a requested close lets work drain, nil while none is requested: set by the
    /// `RecoveringConnection` that owns this handle, read by waits that could outlast it.
    var closeDeadline: () -> ContinuousClock.Instant? = { nil }

    private init(state: amqp_connection_state_t, configuration: AMQPConfiguration) {
        self.state = state
        self.configuration = configuration
        // The broker sends a heartbeat every half interval; two missed intervals mean it is gone.
        self.heartbeatTimeout = configuration.heartbeat * 2
        self.lastInbound = .now
    }

    deinit { destroy() }

    /// Opens the socket, logs in, advertises the connection name and capabilities, opens
    /// channel 1.
    static func open(_ configuration: AMQPConfiguration, logger: Logger) throws(AMQPError) -> ConnectionHandle {
        guard let state = amqp_new_connection() else {
            throw AMQPError(.connectionFailed, "rabbitmq-c could not allocate a connection")
        }
        let handle = ConnectionHandle(state: state, configuration: configuration)
        let endpoint = "\(configuration.host):\(configuration.port)"

        let socket: OpaquePointer?
        if let tls = configuration.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw AMQPError(.connectionFailed, "rabbitmq-c could not create a TLS socket") }
            if amqp_ssl_socket_set_cacert(socket, tls.caCertificatePath) != AMQP_STATUS_OK.rawValue {
                throw AMQPError(.invalidConfiguration, "cannot load the CA certificate file \(tls.caCertificatePath)")
            }
            if let certificate = tls.clientCertificatePath, let key = tls.clientKeyPath {
                if amqp_ssl_socket_set_key(socket, certificate, key) != AMQP_STATUS_OK.rawValue {
                    throw AMQPError(
                        .invalidConfiguration,
                        "cannot load the client certificate \(certificate) with key \(key)")
                }
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
        } else {
            socket = amqp_tcp_socket_new(state)
            guard socket != nil else { throw AMQPError(.connectionFailed, "rabbitmq-c could not create a socket") }
        }

        var connectTimeout = configuration.connectTimeout.timevalValue
        errno = 0
        let opened = amqp_socket_open_noblock(socket, configuration.host, Int32(configuration.port), &connectTimeout)
        if opened != AMQP_STATUS_OK.rawValue {
            throw socketOpenError(
                status: opened, errno: errno, host: configuration.host, port: configuration.port, endpoint: endpoint)
        }
        var handshakeTimeout = configuration.connectTimeout.timevalValue
        amqp_set_handshake_timeout(state, &handshakeTimeout)

        let arena = CArena()
        var clientProperties = arena.table([
            "connection_name": .string(configuration.connectionName),
            "product": "Escalator",
            "platform": "Swift",
            // consumer_cancel_notify is how AMQP 0-9-1 names receiving basic.cancel.
            "capabilities": .table([
                "consumer_cancel_notify": true,
                "connection.blocked": true,
                "authentication_failure_close": true,
                "publisher_confirms": true,
                "basic.nack": true,
            ]),
        ])
        let heartbeatSeconds = Int32(max(1, configuration.heartbeat.components.seconds))
        let login = escalator_amqp_login_plain_with_properties(
            state, configuration.virtualHost, 0, 131_072, heartbeatSeconds, &clientProperties,
            configuration.user, configuration.password)
        if login.reply_type != AMQP_RESPONSE_NORMAL {
            throw loginError(login, configuration: configuration)
        }
        amqp_channel_open(state, channel)
        try handle.check(amqp_get_rpc_reply(state), doing: "opening channel 1")
        handle.lastInbound = .now
        logger.debug(
            "AMQP connection open",
            metadata: ["amqp.endpoint": "\(configuration.endpointDescription)", "amqp.connection": "\(configuration.connectionName)"])
        return handle
    }

    /// Sends close on channel and connection, then frees everything. Best effort: the broker
    /// may already be gone.
    func close() {
        guard !isDestroyed else { return }
        _ = amqp_channel_close(state, Self.channel, Int32(AMQP_REPLY_SUCCESS))
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        destroy()
    }

    /// Frees the connection without talking to the broker.
    func destroy() {
        guard !isDestroyed else { return }
        isDestroyed = true
        amqp_destroy_connection(state)
    }

    // MARK: Frames

    /// The next frame if one can be read without waiting. Also where rabbitmq-c sends the
    /// heartbeats that are due.
    func readFrameNow() throws(AMQPError) -> amqp_frame_t? {
        var frame = amqp_frame_t()
        var immediately = timeval(tv_sec: 0, tv_usec: 0)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &immediately)
        if status == AMQP_STATUS_OK.rawValue {
            receivedSinceLastWait = true
            return frame
        }
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        throw libraryError(status, doing: "reading from the broker")
    }

    /// Whether frames may be written to the socket directly (`write(_:doing:)`): plain TCP only,
    /// since a TLS socket's bytes go through rabbitmq-c's OpenSSL session.
    var acceptsDirectWrites: Bool { configuration.tls == nil }

    /// The largest frame this connection negotiated, header and frame end included.
    var frameMax: Int { Int(amqp_get_frame_max(state)) }

    /// Writes whole frames straight to the socket, waiting as long as the broker does not read
    /// them but shows it is there: during a resource alarm RabbitMQ stops reading publishers'
    /// sockets and still sends heartbeats, and publishing is meant to wait that out, as
    /// rabbitmq-c's own publish does. Throws when the socket fails, when the broker has neither
    /// read nor sent anything for two heartbeat intervals, or when a requested close's deadline
    /// (`closeDeadline`) passes. Between rabbitmq-c's own calls only; a write that throws may
    /// leave part of a frame sent, and the connection must then be destroyed.
    func write(_ frames: UnsafeRawBufferPointer, doing action: @autoclosure () -> String) throws(AMQPError) {
        let descriptor = amqp_get_sockfd(state)
        var offset = 0
        /// When the broker last read or sent something, and how much it had sent unread then.
        var lastSignOfLife: (at: ContinuousClock.Instant, unread: Int32)?
        while offset < frames.count {
            let sent = send(descriptor, frames.baseAddress! + offset, frames.count - offset, Int32(MSG_NOSIGNAL))
            if sent > 0 {
                offset += sent
                lastSignOfLife = nil
                continue
            }
            let cause = errno
            if sent < 0 && cause == EINTR { continue }
            guard sent < 0 && (cause == EAGAIN || cause == EWOULDBLOCK) else {
                let reason = sent == 0 ? "nothing written" : String(cString: strerror(cause)).lowercased()
                throw AMQPError(
                    .connectionLost, "connection to \(endpoint) lost while \(action()) (\(reason))")
            }
            let now = ContinuousClock.now
            // Heartbeats and confirms pile up unread meanwhile: their growth says the broker is there.
            let unread = escalator_socket_unread_bytes(descriptor)
            if lastSignOfLife == nil || unread != lastSignOfLife!.unread {
                lastSignOfLife = (now, unread)
            } else if now - lastSignOfLife!.at > heartbeatTimeout {
                throw AMQPError(
                    .heartbeatTimeout,
                    "\(endpoint) neither read nor sent anything for \(formatSeconds(heartbeatTimeout)) while \(action()); the connection is considered lost")
            }
            if let deadline = closeDeadline(), now >= deadline {
                throw AMQPError(
                    .shutdown,
                    "closing while \(endpoint) was not reading (a resource alarm?); gave up \(action())")
            }
            // Short, so a close requested meanwhile is seen soon.
            var writable = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            _ = poll(&writable, 1, 250)
        }
    }

    /// Waits until the socket has data, `wakeDescriptor` is signalled, or `timeout` passes.
    /// Throws when the broker has been silent for two heartbeat intervals.
    func waitForInput(timeout: Duration, wakeDescriptor: Int32) throws(AMQPError) {
        if amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0 { return }
        if receivedSinceLastWait {
            receivedSinceLastWait = false
            lastInbound = .now
        }
        var descriptors = [
            pollfd(fd: amqp_get_sockfd(state), events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        let milliseconds = Int32(max(1, timeout.seconds * 1000))
        let ready = descriptors.withUnsafeMutableBufferPointer { poll($0.baseAddress, 2, milliseconds) }
        if ready > 0 && descriptors[0].revents != 0 {
            lastInbound = .now
            return
        }
        if ContinuousClock.now - lastInbound > heartbeatTimeout {
            throw AMQPError(
                .heartbeatTimeout,
                "no heartbeat from \(endpoint) for \(formatSeconds(heartbeatTimeout)); the connection is considered lost")
        }
    }

    // MARK: Replies and errors

    func check(_ reply: amqp_rpc_reply_t, doing action: String) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            lastInbound = .now
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw libraryError(reply.library_error, doing: action)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            throw serverError(reply, doing: action)
        default:
            throw AMQPError(.protocolError, "no reply from the broker while \(action)")
        }
    }

    func libraryError(_ status: Int32, doing action: String) -> AMQPError {
        let text = String(cString: amqp_error_string2(status))
        switch status {
        case AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue:
            return AMQPError(.heartbeatTimeout, "heartbeat timeout on the connection to \(endpoint) while \(action)")
        case AMQP_STATUS_CONNECTION_CLOSED.rawValue, AMQP_STATUS_SOCKET_CLOSED.rawValue,
            AMQP_STATUS_SOCKET_ERROR.rawValue, AMQP_STATUS_SSL_ERROR.rawValue:
            return AMQPError(.connectionLost, "connection to \(endpoint) lost while \(action) (\(text))")
        case AMQP_STATUS_TIMEOUT.rawValue:
            return AMQPError(.connectionLost, "no answer from \(endpoint) in time while \(action)")
        default:
            return AMQPError(.protocolError, "rabbitmq-c failed while \(action): \(text)")
        }
    }

    func serverError(_ reply: amqp_rpc_reply_t, doing action: String) -> AMQPError {
        closeReceived(reply.reply, doing: action)
            ?? AMQPError(.protocolError, "unexpected method \(reply.reply.id) from the broker while \(action)")
    }

    /// Answers the broker's channel.close or connection.close with its close-ok, as the protocol
    /// asks, and says why it closed; nil for any other method.
    func closeReceived(_ method: amqp_method_t, doing action: String) -> AMQPError? {
        switch method.id {
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            var closeOK = amqp_channel_close_ok_t(dummy: 0)
            amqp_send_method(state, Self.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &closeOK)
            return Self.channelCloseError(code: close.reply_code, text: String(amqpBytes: close.reply_text), doing: action)
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            var closeOK = amqp_connection_close_ok_t(dummy: 0)
            amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &closeOK)
            return Self.connectionCloseError(
                code: close.reply_code, text: String(amqpBytes: close.reply_text), configuration: configuration)
        default:
            return nil
        }
    }

    static func channelCloseError(code: UInt16, text: String, doing action: String) -> AMQPError {
        switch code {
        case 404:
            return AMQPError(.notFound, "broker refused \(action): \(text) (404); declare it first or fix the name", brokerReplyCode: code)
        case 403:
            return AMQPError(
                .accessRefused, "broker refused \(action): \(text) (403); grant the user the permission", brokerReplyCode: code)
        default:
            // 406 PRECONDITION_FAILED among them: a mismatch when declaring (the declaration says
            // so), a bad delivery tag when acknowledging; reconnecting starts a clean channel.
            return AMQPError(.channelClosed, "broker closed the channel while \(action): \(text) (\(code))", brokerReplyCode: code)
        }
    }

    static func connectionCloseError(code: UInt16, text: String, configuration: AMQPConfiguration) -> AMQPError {
        switch code {
        case 403:
            return AMQPError(
                .authenticationRefused,
                "authentication refused for user \(configuration.user) on vhost \(configuration.virtualHost); check the user name and password",
                brokerReplyCode: code)
        case 530:
            return AMQPError(
                .accessRefused,
                "user \(configuration.user) may not use vhost \(configuration.virtualHost) (\(text)); grant it with rabbitmqctl set_permissions",
                brokerReplyCode: code)
        default:
            return AMQPError(
                .connectionClosedByBroker,
                "broker at \(configuration.host):\(configuration.port) closed the connection: \(text) (\(code))", brokerReplyCode: code)
        }
    }

    private static func socketOpenError(status: Int32, errno: Int32, host: String, port: Int, endpoint: String) -> AMQPError {
        if status == AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED.rawValue {
            return AMQPError(.connectionFailed, "cannot connect to \(endpoint) (host name not found)")
        }
        if status == AMQP_STATUS_TIMEOUT.rawValue || status == AMQP_STATUS_SOCKET_ERROR.rawValue && errno == ETIMEDOUT {
            return AMQPError(.connectionFailed, "cannot connect to \(endpoint) (timed out)")
        }
        if status == AMQP_STATUS_SOCKET_ERROR.rawValue {
            // rabbitmq-c connects without blocking and keeps the real cause to itself (errno
            // says EINPROGRESS): ask the socket layer once more.
            let cause = errno == ECONNREFUSED ? ECONNREFUSED : probeConnectError(host: host, port: port)
            if cause == ECONNREFUSED {
                return AMQPError(.connectionRefused, "cannot connect to \(endpoint) (connection refused)")
            }
            if cause != 0 {
                return AMQPError(.connectionFailed, "cannot connect to \(endpoint) (\(String(cString: strerror(cause)).lowercased()))")
            }
        }
        if status == AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue || status == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue {
            return AMQPError(
                .connectionFailed,
                "cannot connect to \(endpoint): the broker's TLS certificate failed verification (\(String(cString: amqp_error_string2(status))))")
        }
        let reason = errno != 0 ? String(cString: strerror(errno)).lowercased() : String(cString: amqp_error_string2(status))
        return AMQPError(.connectionFailed, "cannot connect to \(endpoint) (\(reason))")
    }

    private static func loginError(_ reply: amqp_rpc_reply_t, configuration: AMQPConfiguration) -> AMQPError {
        let endpoint = "\(configuration.host):\(configuration.port)"
        switch reply.reply_type {
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD:
            let close = reply.reply.decoded!.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            return connectionCloseError(code: close.reply_code, text: String(amqpBytes: close.reply_text), configuration: configuration)
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let text = String(cString: amqp_error_string2(reply.library_error))
            return AMQPError(.connectionLost, "connection to \(endpoint) closed during login (\(text))")
        default:
            return AMQPError(.protocolError, "login to \(endpoint) failed with an unexpected reply")
        }
    }

    /// The errno of a plain TCP connect to `host:port` (0 when it succeeds), waiting at most 2 s.
    private static func probeConnectError(host: String, port: Int) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var addresses: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &addresses) == 0, let first = addresses else { return 0 }
        defer { freeaddrinfo(addresses) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard descriptor >= 0 else { return errno }
        defer { Glibc.close(descriptor) }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        if connect(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 { return 0 }
        guard errno == EINPROGRESS else { return errno }
        var descriptorToPoll = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        guard poll(&descriptorToPoll, 1, 2000) > 0 else { return ETIMEDOUT }
        var socketError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &socketError, &length)
        return socketError
    }
}
