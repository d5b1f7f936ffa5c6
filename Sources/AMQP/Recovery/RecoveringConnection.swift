import CRabbitMQ
import Foundation
import Logging
import Synchronization

/// What a publisher or consumer does on its connection; the `RecoveringConnection` drives it.
/// Every method runs on the connection's own thread.
protocol ConnectionRole: AnyObject {
    /// Names the connection's thread (`amqp-publish`, `amqp-consume`) in `top` and profilers.
    var threadName: String { get }
    /// Connected and topology declared: select confirms, start consuming, republish.
    func sessionStarted(_ connection: ConnectionHandle, generation: UInt64) throws(AMQPError)
    /// Sends what callers asked for since the last turn (publishes, acks); returns true when
    /// some is left for the next turn, so the thread does not sleep on it.
    func performPendingWork(_ connection: ConnectionHandle) throws(AMQPError) -> Bool
    func frameReceived(_ frame: amqp_frame_t, connection: ConnectionHandle) throws(AMQPError)
    /// Called when no more frames are ready, before the thread sleeps.
    func turnFinished()
    /// Whether a requested close can go ahead (nothing waits for a confirm).
    var isDrained: Bool { get }
    /// The connection is gone; its delivery tags and sequence numbers with it.
    func sessionLost(_ error: AMQPError)
    /// The thread is about to end: `error` is nil after a requested close.
    func finished(_ error: AMQPError?)
}

/// A connection on a thread of its own that reconnects with capped exponential backoff and
/// jitter, declares the topology again and restarts its role. The blocking rabbitmq-c calls
/// never run on Swift's cooperative pool.
final class RecoveringConnection: @unchecked Sendable {
    // @unchecked: the stored `let`s are Sendable or thread-confined (`role` is only touched by
    // the connection thread); mutable shared state sits behind `shared`.
    let configuration: AMQPConfiguration
    let topology: Topology?
    let logger: Logger
    let wake = WakeSignal()
    private let role: any ConnectionRole
    private let shared = Mutex(Shared())

    private struct Shared {
        var state: ConnectionState = .connecting
        var sessionsStarted = 0
        var closeDeadline: ContinuousClock.Instant?
        var finished = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    init(configuration: AMQPConfiguration, topology: Topology?, role: any ConnectionRole, logger: Logger) {
        self.configuration = configuration
        self.topology = topology
        self.role = role
        var logger = logger
        logger[metadataKey: "amqp.connection"] = "\(configuration.connectionName)"
        self.logger = logger
    }

    func start() {
        let name = role.threadName
        let thread = Thread { [self] in
            Thread.current.name = name
            run()
        }
        thread.start()
    }

    var state: ConnectionState { shared.withLock { $0.state } }

    /// How many times the connection was established and its role started: above one, it
    /// recovered, however briefly it was down.
    var sessionsStarted: Int { shared.withLock { $0.sessionsStarted } }

    var isCloseRequested: Bool { shared.withLock { $0.closeDeadline != nil } }

    /// Asks the thread to finish: the role drains for up to `timeout`, then the connection
    /// closes. Returns when the thread has ended.
    func close(timeout: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyFinished = shared.withLock { shared in
                if shared.closeDeadline == nil { shared.closeDeadline = .now + timeout }
                if shared.finished { return true }
                shared.closeWaiters.append(continuation)
                return false
            }
            if alreadyFinished { continuation.resume() }
            wake.signal()
        }
    }

    private func setState(_ state: ConnectionState) {
        shared.withLock { $0.state = state }
    }

    static let framesPerTurn = 1024

    /// Like `close(timeout:)` without waiting: for deinit.
    func requestClose() {
        shared.withLock { shared in
            if shared.closeDeadline == nil { shared.closeDeadline = .now }
        }
        wake.signal()
    }

    private func run() {
        var attempt = 0
        var generation: UInt64 = 0
        var randomness = SystemRandomNumberGenerator()
        var finalError: AMQPError?
        while !isCloseRequested {
            var connection: ConnectionHandle?
            do throws(AMQPError) {
                let opened = try ConnectionHandle.open(configuration, logger: logger)
                opened.closeDeadline = { [self] in shared.withLock { $0.closeDeadline } }
                connection = opened
                if let topology { try topology.declare(on: opened) }
                generation += 1
                try role.sessionStarted(opened, generation: generation)
                if attempt > 0 {
                    logger.info("AMQP connection recovered", metadata: ["amqp.attempts": "\(attempt)"])
                }
                attempt = 0
                shared.withLock { shared in
                    shared.state = .connected
                    shared.sessionsStarted += 1
                }
                try runSession(opened)
                opened.close()
                break
            } catch {
                connection?.destroy()
                role.sessionLost(error)
                if isCloseRequested { break }
                attempt += 1
                let attemptsExhausted = configuration.recovery.maximumAttempts.map { attempt >= $0 } ?? false
                if !error.isTransient || attemptsExhausted {
                    logger.error("AMQP connection failed: \(error.message)")
                    finalError = error
                    break
                }
                let delay = configuration.recovery.delay(beforeAttempt: attempt, using: &randomness)
                logger.warning("\(error.message), retrying in \(formatSeconds(delay))")
                setState(.recovering(attempt: attempt, lastError: error, retryIn: delay))
                wake.wait(upTo: delay)
                wake.clear()
            }
        }
        // The state first: a caller whose publish fails below should already see why.
        setState(finalError.map { .failed($0) } ?? .closed)
        role.finished(finalError)
        let waiters = shared.withLock { shared in
            shared.finished = true
            defer { shared.closeWaiters = [] }
            return shared.closeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Serves one connection until a requested close has drained (returns) or it breaks (throws).
    private func runSession(_ connection: ConnectionHandle) throws(AMQPError) {
        // rabbitmq-c sends heartbeats only from inside its calls: wake well within the interval.
        let idleWait = min(configuration.heartbeat / 4, .milliseconds(500))
        while true {
            wake.clear()
            let moreWork = try role.performPendingWork(connection)
            if let deadline = shared.withLock({ $0.closeDeadline }),
                role.isDrained || ContinuousClock.now >= deadline
            {
                return
            }
            // Bounded, so acks and publishes queued meanwhile are not starved by a busy socket.
            var framesRead = 0
            while framesRead < Self.framesPerTurn, let frame = try connection.readFrameNow() {
                framesRead += 1
                try role.frameReceived(frame, connection: connection)
            }
            role.turnFinished()
            amqp_maybe_release_buffers(connection.state)
            if framesRead == 0 && !moreWork {
                try connection.waitForInput(timeout: idleWait, wakeDescriptor: wake.readDescriptor)
            }
        }
    }
}
