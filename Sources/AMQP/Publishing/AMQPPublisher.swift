import Foundation
import Logging
import Synchronization

/// Publishes with publisher confirms and `mandatory` on a connection of its own, on a thread of
/// its own. Confirms are awaited per batch, not per message: callers hand over many messages at
/// once (or call concurrently) and the broker's `multiple` acks settle them together.
///
/// Every message ends in an outcome: `.confirmed`, `.returned` (unroutable) or `.nacked`
/// (refused). While the connection recovers, publishes wait and unconfirmed messages are
/// republished; they fail only when the publisher fails or is closed, never silently.
public final class AMQPPublisher: AMQPPublishing {
    private let connection: RecoveringConnection
    private let inbox: PublishInbox

    /// Starts connecting at once; `topology` is declared on every connection.
    public init(configuration: AMQPConfiguration, topology: Topology? = nil, logger: Logger) {
        let inbox = PublishInbox()
        self.inbox = inbox
        let role = PublisherRole(inbox: inbox, logger: logger)
        connection = RecoveringConnection(configuration: configuration, topology: topology, role: role, logger: logger)
        connection.start()
    }

    deinit {
        connection.requestClose()
    }

    public var state: ConnectionState { connection.state }

    /// How many times this publisher's connection was established: each one after the first is a
    /// recovery, however briefly the connection was down (`state` may never show it).
    public var sessionsStarted: Int { connection.sessionsStarted }

    /// Publishes `messages` in order and returns their outcomes in the same order, once the
    /// broker has settled every one of them.
    public func publish(_ messages: [OutboundMessage]) async throws(AMQPError) -> [PublishOutcome] {
        try await submit(messages).outcomes()
    }

    /// Hands `messages` to the publisher thread now, behind every batch handed over before, and
    /// returns at once: a caller may hand over the next batch while this one awaits its confirms.
    public func submit(_ messages: [OutboundMessage]) -> PublishReceipt {
        let receipt = PublishReceipt()
        guard !messages.isEmpty else {
            receipt.settle(.success([]))
            return receipt
        }
        var messages = messages
        for index in messages.indices where messages[index].properties.messageID == nil {
            messages[index].properties.messageID = UUID().uuidString
        }
        let request = PublishRequest(messages: messages, receipt: receipt)
        if let refusal = inbox.submit(request) {
            receipt.settle(.failure(refusal))
        } else {
            connection.wake.signal()
        }
        return receipt
    }

    /// Stops taking publishes, waits up to `timeout` for outstanding confirms, then closes the
    /// connection. Publishes still unconfirmed then fail with `.shutdown`.
    public func close(timeout: Duration = .seconds(10)) async {
        inbox.refuseNew(AMQPError(.shutdown, "the publisher is closing; nothing new is published"))
        await connection.close(timeout: timeout)
    }
}

/// What code that publishes needs from a publisher, so that it can be tested without a broker.
public protocol AMQPPublishing: Sendable {
    /// The outcome of every message, in order, once the broker has settled them all.
    func publish(_ messages: [OutboundMessage]) async throws(AMQPError) -> [PublishOutcome]

    /// Hands the messages over and returns at once; batches submitted one after the other are
    /// published in that order.
    func submit(_ messages: [OutboundMessage]) -> PublishReceipt
}

extension AMQPPublishing {
    /// For publishers without a queue of their own: publishes on a task of its own, so batches
    /// submitted together may go out in any order.
    public func submit(_ messages: [OutboundMessage]) -> PublishReceipt {
        let receipt = PublishReceipt()
        Task {
            do throws(AMQPError) {
                receipt.settle(.success(try await publish(messages)))
            } catch {
                receipt.settle(.failure(error))
            }
        }
        return receipt
    }
}

/// The outcomes of a submitted batch, once the broker has settled every message of it.
public final class PublishReceipt: Sendable {
    private let state = Mutex<(result: Result<[PublishOutcome], AMQPError>?, waiters: [CheckedContinuation<Void, Never>])>(
        (nil, []))

    public init() {}

    /// Waits for the outcomes of every message, in order.
    public func outcomes() async throws(AMQPError) -> [PublishOutcome] {
        if let result = state.withLock({ $0.result }) { return try result.get() }
        await withCheckedContinuation { continuation in
            let settled = state.withLock { state -> Bool in
                if state.result != nil { return true }
                state.waiters.append(continuation)
                return false
            }
            if settled { continuation.resume() }
        }
        return try state.withLock { $0.result! }.get()
    }

    /// The first settlement counts; later ones are ignored.
    public func settle(_ result: Result<[PublishOutcome], AMQPError>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

extension AMQPPublishing {
    public func publish(_ message: OutboundMessage) async throws(AMQPError) -> PublishOutcome {
        try await publish([message])[0]
    }
}

/// One caller's batch, settled when every message has an outcome.
final class PublishRequest: @unchecked Sendable {
    // @unchecked: after `submit` hands it over, only the publisher thread touches it.
    let messages: [OutboundMessage]
    private var outcomes: [PublishOutcome?]
    private var unsettled: Int
    private let receipt: PublishReceipt

    init(messages: [OutboundMessage], receipt: PublishReceipt) {
        self.messages = messages
        self.outcomes = Array(repeating: nil, count: messages.count)
        self.unsettled = messages.count
        self.receipt = receipt
    }

    func settle(_ index: Int, _ outcome: PublishOutcome) {
        guard outcomes[index] == nil else { return }
        outcomes[index] = outcome
        unsettled -= 1
        if unsettled == 0 {
            receipt.settle(.success(outcomes.map { $0! }))
        }
    }

    func fail(_ error: AMQPError) {
        receipt.settle(.failure(error))
    }
}

/// Where callers leave requests for the publisher thread.
final class PublishInbox: Sendable {
    private struct State {
        var requests: [PublishRequest] = []
        var refusal: AMQPError?
    }

    private let state = Mutex(State())

    /// Returns why the request was refused, or nil once it is queued.
    func submit(_ request: PublishRequest) -> AMQPError? {
        state.withLock { state in
            if let refusal = state.refusal { return refusal }
            state.requests.append(request)
            return nil
        }
    }

    func takeAll() -> [PublishRequest] {
        state.withLock { state in
            guard !state.requests.isEmpty else { return [] }
            defer { state.requests = [] }
            return state.requests
        }
    }

    var isEmpty: Bool { state.withLock { $0.requests.isEmpty } }

    func refuseNew(_ error: AMQPError) {
        state.withLock { state in
            if state.refusal == nil { state.refusal = error }
        }
    }
}
