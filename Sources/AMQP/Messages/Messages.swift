/// The AMQP basic properties Escalator uses; every field is optional on the wire.
public struct MessageProperties: Sendable, Hashable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: AMQPTable
    /// Delivery mode 2: the broker writes the message to disk.
    public var persistent: Bool
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    public var expiration: String?
    public var messageID: String?
    /// Seconds since 1970.
    public var timestamp: UInt64?
    public var type: String?
    public var userID: String?
    public var appID: String?

    public init(
        contentType: String? = nil,
        contentEncoding: String? = nil,
        headers: AMQPTable = [:],
        persistent: Bool = true,
        priority: UInt8? = nil,
        correlationID: String? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        messageID: String? = nil,
        timestamp: UInt64? = nil,
        type: String? = nil,
        userID: String? = nil,
        appID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.persistent = persistent
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
    }
}

/// A message to publish. Always published `mandatory` (an unroutable message comes back as
/// `.returned`) and with a publisher confirm.
public struct OutboundMessage: Sendable, Hashable {
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    /// A message without `messageID` is given a random one: returns are matched to their
    /// message by it, since `basic.return` carries no sequence number.
    public var properties: MessageProperties

    public init(exchange: String, routingKey: String, body: [UInt8], properties: MessageProperties = MessageProperties()) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
    }
}

/// What the broker said about one published message.
public enum PublishOutcome: Sendable, Hashable {
    /// Routed to at least one queue and confirmed: the broker has taken responsibility.
    case confirmed
    /// No queue matched (`mandatory`): the message was not delivered anywhere.
    case returned(replyCode: UInt16, replyText: String)
    /// The broker refused it (a full `reject-publish` queue, an internal error).
    case nacked
    /// Never sent: it cannot be framed (its properties do not fit in one frame). Sending it again
    /// gives the same; the other messages of the publish are unaffected.
    case unpublishable(reason: String)

    public var isConfirmed: Bool { self == .confirmed }
}

/// A message received from a queue, to be acknowledged through the consumer that delivered it.
public struct Delivery: Sendable {
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var properties: MessageProperties
    /// True when the broker delivered it before (to this or another consumer) without an ack.
    public var redelivered: Bool
    public var deliveryTag: UInt64
    /// Which connection delivered it: tags of a lost connection are void, so acks for them are
    /// dropped and the broker redelivers the message.
    let sessionGeneration: UInt64

    /// For tests of code that handles deliveries: acknowledging such a delivery through a
    /// consumer does nothing, as for one of a lost connection.
    public init(
        exchange: String, routingKey: String, body: [UInt8], properties: MessageProperties = MessageProperties(),
        redelivered: Bool = false, deliveryTag: UInt64 = 1
    ) {
        self.init(
            exchange: exchange, routingKey: routingKey, body: body, properties: properties, redelivered: redelivered,
            deliveryTag: deliveryTag, sessionGeneration: 0)
    }

    init(
        exchange: String, routingKey: String, body: [UInt8], properties: MessageProperties,
        redelivered: Bool, deliveryTag: UInt64, sessionGeneration: UInt64
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.redelivered = redelivered
        self.deliveryTag = deliveryTag
        self.sessionGeneration = sessionGeneration
    }
}
