import CRabbitMQ
import Foundation
import Logging

/// The publisher thread's side: publishes, counts confirm sequence numbers (rabbitmq-c 0.11 has
/// no confirm helper), matches acks, nacks and returns to messages, and keeps every unconfirmed
/// message for republishing after a reconnect.
final class PublisherRole: ConnectionRole {
    let threadName = "amqp-publish"

    private struct Pending {
        let request: PublishRequest
        let index: Int
        var returned: (code: UInt16, text: String)?

        var message: OutboundMessage { request.messages[index] }
        var messageID: String { message.properties.messageID ?? "" }
    }

    private let inbox: PublishInbox
    private let logger: Logger

    /// Waiting to be sent on the current connection, in order; after a reconnect it starts with
    /// the messages the lost connection never confirmed.
    private var unsent: [Pending] = []
    /// Sent and not yet settled; `inFlight[i]` has sequence number `firstSequence + i`.
    private var inFlight: [Pending?] = []
    private var firstSequence: UInt64 = 1
    /// Every entry before it is settled.
    private var oldestUnsettled = 0
    private var unsettledCount = 0
    private var returnAssembler = ContentAssembler<ReturnMethod>()
    /// Kept from turn to turn, so its buffers are allocated once a session (whose frame size
    /// they follow).
    private var frames: PublishFrames?

    private struct ReturnMethod {
        let code: UInt16
        let text: String
        let exchange: String
        let routingKey: String
    }
    /// Set when the broker closed the channel because an exchange published to does not exist.
    private var missingExchange: (name: String, text: String)?

    init(inbox: PublishInbox, logger: Logger) {
        self.inbox = inbox
        self.logger = logger
    }

    func sessionStarted(_ connection: ConnectionHandle, generation: UInt64) throws(AMQPError) {
        amqp_confirm_select(connection.state, ConnectionHandle.channel)
        try connection.check(amqp_get_rpc_reply(connection.state), doing: "selecting publisher confirms")
        inFlight = []
        firstSequence = 1
        oldestUnsettled = 0
        unsettledCount = 0
        returnAssembler = ContentAssembler()
        missingExchange = nil
        frames = PublishFrames(channel: ConnectionHandle.channel, frameMax: connection.frameMax)
        if !unsent.isEmpty {
            logger.info("republishing \(unsent.count) messages the lost connection did not confirm")
        }
    }

    func performPendingWork(_ connection: ConnectionHandle) throws(AMQPError) -> Bool {
        for request in inbox.takeAll() {
            for index in request.messages.indices {
                unsent.append(Pending(request: request, index: index))
            }
        }
        guard !unsent.isEmpty else { return false }
        // Bounded, so confirms are read between long runs of publishes.
        let batch = unsent.prefix(Self.publishesPerTurn)
        let (taken, written) = try publishTogether(batch, on: connection)
        // Only once written: a failed write leaves them in `unsent`, republished on the next connection.
        for pending in written { inFlight.append(pending) }
        unsettledCount += written.count
        unsent.removeFirst(taken)
        return !unsent.isEmpty
    }

    static let publishesPerTurn = 1000
    /// A write's frames stop growing past this (at least one message goes): a turn of large
    /// messages, dead-lettered copies of 1 MiB events say, is not held in memory all at once.
    static let bytesPerWrite = 1 << 20

    /// The frames of the batch's first messages, up to `bytesPerWrite`, in one buffer and one
    /// write instead of three `send`s per message (on TLS, each message through rabbitmq-c once
    /// framed): how many it took, and those it wrote. One that cannot be framed is settled
    /// `.unpublishable` and left out.
    private func publishTogether(
        _ batch: ArraySlice<Pending>, on connection: ConnectionHandle
    ) throws(AMQPError) -> (taken: Int, written: [Pending]) {
        // Out of `self` while it grows, so the buffer is not copied on write; put back however this ends.
        var frames = self.frames.take()!
        defer { self.frames = frames }
        // On TLS rabbitmq-c encrypts and sends each message; its frames only show that it can be sent.
        let writesFrames = connection.acceptsDirectWrites
        frames.removeAll(keepingCapacityUpTo: 2 * Self.bytesPerWrite)
        let arena = CArena()
        var taken = 0
        var written: [Pending] = []
        for pending in batch {
            guard written.isEmpty || frames.bytes.count < Self.bytesPerWrite else { break }
            taken += 1
            do {
                try frames.appendPublish(pending.message, mandatory: true, arena: arena)
            } catch {
                // Never sent, it takes no confirm sequence number, and the others go on. Sent again
                // it would fail again: a reconnect cannot help.
                logger.error(
                    "\(error.message)", metadata: ["amqp.message_id": "\(pending.messageID)", "amqp.exchange": "\(pending.message.exchange)"])
                pending.request.settle(pending.index, .unpublishable(reason: error.message))
                continue
            }
            if !writesFrames {
                frames.removeAll(keepingCapacityUpTo: 2 * Self.bytesPerWrite)
                try publish(pending, on: connection)
            }
            written.append(pending)
        }
        guard writesFrames, !written.isEmpty else { return (taken, written) }
        try frames.bytes.withUnsafeBytes { bytes in
            Result { () throws(AMQPError) in try connection.write(bytes, doing: "publishing \(written.count) messages") }
        }.get()
        return (taken, written)
    }

    /// One message through rabbitmq-c, which also encrypts it on a TLS connection.
    private func publish(_ pending: Pending, on connection: ConnectionHandle) throws(AMQPError) {
        let message = pending.message
        let arena = CArena()
        var properties = arena.properties(message.properties)
        let status = message.body.withUnsafeBytes { body in
            amqp_basic_publish(
                connection.state, ConnectionHandle.channel, arena.bytes(message.exchange), arena.bytes(message.routingKey),
                1, 0, &properties,
                amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
        }
        if status != AMQP_STATUS_OK.rawValue {
            throw connection.libraryError(status, doing: "publishing to exchange '\(message.exchange)'")
        }
    }

    func frameReceived(_ frame: amqp_frame_t, connection: ConnectionHandle) throws(AMQPError) {
        guard Int32(frame.frame_type) == AMQP_FRAME_METHOD else {
            if let (returned, properties, _) = try returnAssembler.add(frame) {
                markReturned(returned, messageID: properties.messageID ?? "")
            }
            return
        }
        let method = frame.payload.method
        switch method.id {
        case AMQP_BASIC_ACK_METHOD:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            settle(upTo: ack.delivery_tag, multiple: ack.multiple != 0, outcome: .confirmed)
        case AMQP_BASIC_NACK_METHOD:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            settle(upTo: nack.delivery_tag, multiple: nack.multiple != 0, outcome: .nacked)
        case AMQP_BASIC_RETURN_METHOD:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            returnAssembler.begin(
                ReturnMethod(
                    code: returned.reply_code, text: String(amqpBytes: returned.reply_text),
                    exchange: String(amqpBytes: returned.exchange), routingKey: String(amqpBytes: returned.routing_key)))
        case AMQP_CHANNEL_CLOSE_METHOD, AMQP_CONNECTION_CLOSE_METHOD:
            let error = connection.closeReceived(method, doing: "publishing")!
            if error.code == .notFound, let name = Self.missingExchangeName(in: error.message) {
                // Not fatal: the messages for that exchange are returned, the others republished.
                missingExchange = (name, error.message)
                throw AMQPError(.channelClosed, "\(error.message); reporting the messages for '\(name)' as returned")
            }
            throw error
        case AMQP_CONNECTION_BLOCKED_METHOD:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            logger.warning("broker blocked publishing on this connection: \(String(amqpBytes: blocked.reason))")
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            logger.info("broker unblocked publishing on this connection")
        default:
            logger.debug("ignoring AMQP method \(method.id) on the publishing connection")
        }
    }

    func turnFinished() {
        // Drop the settled prefix now and then, so a long session does not grow without bound.
        if oldestUnsettled > 4096 && oldestUnsettled * 2 > inFlight.count {
            inFlight.removeFirst(oldestUnsettled)
            firstSequence += UInt64(oldestUnsettled)
            oldestUnsettled = 0
        }
    }

    var isDrained: Bool { unsettledCount == 0 && unsent.isEmpty && inbox.isEmpty }

    func sessionLost(_ error: AMQPError) {
        var unconfirmed = inFlight[oldestUnsettled...].compactMap { $0 }
        unconfirmed.append(contentsOf: unsent)
        inFlight = []
        oldestUnsettled = 0
        unsettledCount = 0
        if let missingExchange {
            // Republishing to an exchange that does not exist would close the channel forever.
            for pending in unconfirmed where pending.message.exchange == missingExchange.name {
                pending.request.settle(pending.index, .returned(replyCode: 404, replyText: missingExchange.text))
            }
            unconfirmed.removeAll { $0.message.exchange == missingExchange.name }
            self.missingExchange = nil
        }
        unsent = unconfirmed
    }

    func finished(_ error: AMQPError?) {
        let reason = error ?? AMQPError(.shutdown, "the publisher closed before the broker confirmed the message")
        inbox.refuseNew(reason)
        var requests: [ObjectIdentifier: PublishRequest] = [:]
        for pending in inFlight.compactMap({ $0 }) + unsent {
            requests[ObjectIdentifier(pending.request)] = pending.request
        }
        for request in inbox.takeAll() { requests[ObjectIdentifier(request)] = request }
        if !requests.isEmpty {
            logger.error("publishes failed unconfirmed: \(reason.message)")
        }
        for request in requests.values { request.fail(reason) }
        inFlight = []
        unsent = []
    }

    private func settle(upTo tag: UInt64, multiple: Bool, outcome: PublishOutcome) {
        guard tag >= firstSequence else { return }
        let last = Int(tag - firstSequence)
        guard last < inFlight.count else { return }
        if multiple {
            for index in oldestUnsettled...max(oldestUnsettled, last) where index <= last {
                settle(at: index, outcome: outcome)
            }
        } else {
            settle(at: last, outcome: outcome)
        }
        while oldestUnsettled < inFlight.count && inFlight[oldestUnsettled] == nil {
            oldestUnsettled += 1
        }
    }

    private func settle(at index: Int, outcome: PublishOutcome) {
        guard let pending = inFlight[index] else { return }
        inFlight[index] = nil
        unsettledCount -= 1
        if let returned = pending.returned, outcome == .confirmed {
            pending.request.settle(pending.index, .returned(replyCode: returned.code, replyText: returned.text))
        } else {
            pending.request.settle(pending.index, outcome)
        }
    }

    /// `basic.return` carries no sequence number, but it comes before the ack of its message:
    /// the oldest unsettled message with that id, exchange and routing key, not yet marked, is
    /// the one. Returns are rare, so a scan is cheaper than an index kept up for every publish.
    private func markReturned(_ returned: ReturnMethod, messageID: String) {
        for index in oldestUnsettled..<inFlight.count {
            guard let pending = inFlight[index], pending.returned == nil, pending.messageID == messageID,
                pending.message.routingKey == returned.routingKey, pending.message.exchange == returned.exchange
            else { continue }
            inFlight[index]!.returned = (returned.code, returned.text)
            return
        }
        logger.warning("broker returned a message this publisher cannot match", metadata: ["amqp.message_id": "\(messageID)"])
    }

    static func missingExchangeName(in text: String) -> String? {
        guard let start = text.range(of: "no exchange '") else { return nil }
        let rest = text[start.upperBound...]
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }
}
