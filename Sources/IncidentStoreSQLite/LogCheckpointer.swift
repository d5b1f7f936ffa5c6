import CallTree
import Dispatch
import GRDB
import Logging
import Synchronization

/// Copies the write-ahead log into the database file beside the writer, on a connection of its
/// own, so that the writer's commits never wait for it.
///
/// SQLite checkpoints at a commit, on the committing connection: with the default of every
/// 1,000 log pages, which a batch of random-keyed index pages fills in two or three commits, the
/// store's one writer spent much of its time copying pages and syncing the database file while
/// incidents waited. A passive checkpoint takes no lock writers need; the log is reused from its
/// start once one has copied everything. The writer keeps SQLite's own checkpoint as a backstop,
/// set far out (`backstopPages`), for when this one cannot keep up.
final class LogCheckpointer: Sendable {
    /// The writer's own checkpoint threshold, in log pages (4 KiB each).
    static let backstopPages = 16_384

    private let connection: DatabaseQueue
    private let interval: Duration
    private let logger: Logger
    private struct State {
        var running = false
        /// A checkpoint is set to start when the interval has passed.
        var scheduled = false
        /// A commit came that no checkpoint started since has seen.
        var committedSince = false
        var lastStarted: ContinuousClock.Instant?
    }
    private let state = Mutex(State())

    init(path: String, interval: Duration, busyTimeout: Duration, logger: Logger) throws {
        var configuration = Configuration()
        configuration.label = "escalator-store-checkpoint"
        // For opening, beside processes that open or recover the same file; a passive checkpoint
        // itself never waits for a lock (what it cannot copy now, the next one does).
        configuration.busyMode = .timeout(Double(busyTimeout.milliseconds) / 1000)
        connection = try DatabaseQueue(path: path, configuration: configuration)
        self.interval = interval
        self.logger = logger
    }

    /// A transaction committed: a checkpoint starts now when none is running and the last one
    /// started at least `interval` ago, else once both hold, so the last commits of a burst
    /// reach the file too.
    func committed() {
        let now = ContinuousClock.now
        let action = state.withLock { state -> Next in
            state.committedSince = true
            return Self.next(&state, now: now, interval: interval)
        }
        perform(action)
    }

    private enum Next {
        case nothing
        case startNow
        case startAfter(Duration)
    }

    private static func next(_ state: inout State, now: ContinuousClock.Instant, interval: Duration) -> Next {
        guard state.committedSince, !state.running, !state.scheduled else { return .nothing }
        if let last = state.lastStarted, now - last < interval {
            state.scheduled = true
            return .startAfter(interval - (now - last))
        }
        state.running = true
        state.committedSince = false
        state.lastStarted = now
        return .startNow
    }

    private func perform(_ action: Next) {
        switch action {
        case .nothing:
            break
        case .startNow:
            checkpoint()
        case .startAfter(let delay):
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(delay.milliseconds) + 1)) { [self] in
                let action = state.withLock { state -> Next in
                    state.scheduled = false
                    return Self.next(&state, now: .now, interval: interval)
                }
                perform(action)
            }
        }
    }

    private func checkpoint() {
        connection.asyncWriteWithoutTransaction { [self] db in
            do {
                try db.checkpoint(.passive)
            } catch {
                logger.debug("checkpoint did not complete", metadata: ["error": "\(error)"])
            }
            // Commits that came meanwhile: now if it is time, else when it is.
            let action = state.withLock { state -> Next in
                state.running = false
                return Self.next(&state, now: .now, interval: interval)
            }
            perform(action)
        }
    }
}
