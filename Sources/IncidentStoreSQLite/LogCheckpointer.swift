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
        /// A commit came while a checkpoint ran: its pages wait for the next one.
        var committedSince = false
        var lastStarted: ContinuousClock.Instant?
    }
    private let state = Mutex(State())

    init(path: String, interval: Duration, logger: Logger) throws {
        var configuration = Configuration()
        configuration.label = "escalator-store-checkpoint"
        // The checkpoint never waits for a lock: what it cannot copy now, the next one does.
        configuration.busyMode = .immediateError
        connection = try DatabaseQueue(path: path, configuration: configuration)
        self.interval = interval
        self.logger = logger
    }

    /// A transaction committed: starts a checkpoint when none is running and the last one
    /// started at least `interval` ago.
    func committed() {
        let start = state.withLock { state -> Bool in
            guard !state.running else {
                state.committedSince = true
                return false
            }
            return Self.startIfDue(&state, interval: interval)
        }
        if start { checkpoint() }
    }

    private static func startIfDue(_ state: inout State, interval: Duration) -> Bool {
        let now = ContinuousClock.now
        if let last = state.lastStarted, now - last < interval { return false }
        state.running = true
        state.committedSince = false
        state.lastStarted = now
        return true
    }

    private func checkpoint() {
        connection.asyncWriteWithoutTransaction { [self] db in
            do {
                try db.checkpoint(.passive)
            } catch {
                logger.debug("checkpoint did not complete", metadata: ["error": "\(error)"])
            }
            // Commits that came meanwhile are copied now if it is time, else after the next commit.
            let again = state.withLock { state -> Bool in
                state.running = false
                return state.committedSince && Self.startIfDue(&state, interval: interval)
            }
            if again { checkpoint() }
        }
    }
}
