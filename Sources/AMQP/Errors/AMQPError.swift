/// A failure of the AMQP adapter, with a message a person can act on.
///
/// Codes are static constants over a private enum, so new codes can be added without breaking
/// callers that switch over the ones they know.
public struct AMQPError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable, Hashable {
            case invalidConfiguration
            case connectionRefused
            case connectionFailed
            case connectionLost
            case authenticationRefused
            case accessRefused
            case heartbeatTimeout
            case channelClosed
            case connectionClosedByBroker
            case topologyMismatch
            case notFound
            case consumerCancelled
            case protocolError
            case shutdown
            case unpublishable
        }

        fileprivate let base: Base

        /// The URL or TLS settings cannot be used.
        public static let invalidConfiguration = Code(base: .invalidConfiguration)
        /// Nothing listens at the broker's address.
        public static let connectionRefused = Code(base: .connectionRefused)
        /// The TCP or TLS connection could not be set up for another reason.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// An established connection broke (socket closed, reset).
        public static let connectionLost = Code(base: .connectionLost)
        /// The broker refused the user name or password.
        public static let authenticationRefused = Code(base: .authenticationRefused)
        /// The user may not use the virtual host or the resource.
        public static let accessRefused = Code(base: .accessRefused)
        /// The broker sent nothing for two heartbeat intervals.
        public static let heartbeatTimeout = Code(base: .heartbeatTimeout)
        /// The broker closed the channel (the reply code and text say why).
        public static let channelClosed = Code(base: .channelClosed)
        /// The broker closed the connection (shutdown, `close_connection`, resource alarm).
        public static let connectionClosedByBroker = Code(base: .connectionClosedByBroker)
        /// A queue or exchange exists with other arguments than those declared.
        public static let topologyMismatch = Code(base: .topologyMismatch)
        /// A queue or exchange used does not exist.
        public static let notFound = Code(base: .notFound)
        /// The broker cancelled the consumer (its queue was deleted, say).
        public static let consumerCancelled = Code(base: .consumerCancelled)
        /// rabbitmq-c reported something the adapter did not expect.
        public static let protocolError = Code(base: .protocolError)
        /// The publisher or consumer was closed before the operation finished.
        public static let shutdown = Code(base: .shutdown)
        /// This message cannot be sent at all (its properties do not fit in one frame); other
        /// messages are unaffected.
        public static let unpublishable = Code(base: .unpublishable)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// What happened and, where there is one, what to do about it.
    public let message: String
    /// The AMQP reply code when the broker closed the channel or connection (404, 406, 320...).
    public let brokerReplyCode: UInt16?

    public init(_ code: Code, _ message: String, brokerReplyCode: UInt16? = nil) {
        self.code = code
        self.message = message
        self.brokerReplyCode = brokerReplyCode
    }

    public var description: String { message }

    /// Whether reconnecting can help: a broker that is down or restarting comes back, a wrong
    /// queue argument does not.
    public var isTransient: Bool {
        switch code.base {
        case .connectionRefused, .connectionFailed, .connectionLost, .heartbeatTimeout,
            .channelClosed, .connectionClosedByBroker, .consumerCancelled, .protocolError:
            return true
        case .invalidConfiguration, .authenticationRefused, .accessRefused, .topologyMismatch,
            .notFound, .shutdown, .unpublishable:
            return false
        }
    }
}
