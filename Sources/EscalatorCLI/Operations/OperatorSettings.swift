public import AMQP
import CallTree
import Foundation
public import IncidentStore
import IncidentStoreSelection
import IncidentStoreSQLite
public import Logging
import PlanFile
public import Rendering
public import WireContract
public import Worker

/// What every operator command reads: the worker's settings file under the ESCALATOR_*
/// environment overrides, so `escalator publish` talks to the broker, store and plan the workers
/// use without being told twice.
public struct OperatorSettings: Sendable {
    public var configuration: WorkerConfiguration

    public init(configuration: WorkerConfiguration) {
        self.configuration = configuration
    }

    public static func load(
        file: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(CommandFailure) -> OperatorSettings {
        do {
            return OperatorSettings(configuration: try WorkerConfiguration.load(file: file, environment: environment))
        } catch {
            throw .invalidInput(error.description)
        }
    }

    public var names: EscalatorNames { configuration.names }

    /// Signs page tokens as the workers do: only for `escalator reply` run by ops or the demo.
    public var pageTokenSigner: PageTokenSigner { PageTokenSigner(secret: configuration.secret) }

    /// A connection for a one-shot command: a few quick retries, then a clear failure instead of
    /// the worker's patient backoff, so a mistyped URL or a stopped broker is reported at once.
    public func oneShotAMQP(_ purpose: String) throws(CommandFailure) -> AMQPConfiguration {
        try amqp(
            purpose,
            recovery: RecoveryPolicy(initialDelay: .milliseconds(200), maximumDelay: .seconds(1), maximumAttempts: 3))
    }

    /// A connection for a long-running command (`watch`): it outlives a broker restart.
    public func longRunningAMQP(_ purpose: String) throws(CommandFailure) -> AMQPConfiguration {
        try amqp(purpose, recovery: RecoveryPolicy(maximumDelay: .seconds(5)))
    }

    private func amqp(_ purpose: String, recovery: RecoveryPolicy) throws(CommandFailure) -> AMQPConfiguration {
        do {
            return try AMQPConfiguration(
                url: configuration.amqpURL, tls: configuration.tls,
                connectionName: "escalator \(purpose) \(ProcessInfo.processInfo.hostName) pid \(ProcessInfo.processInfo.processIdentifier)",
                heartbeat: configuration.heartbeat, connectTimeout: .seconds(5), recovery: recovery)
        } catch {
            throw .invalidInput("amqp.url (ESCALATOR_AMQP_URL): \(error.message)")
        }
    }

    /// The plan the workers run, for checking events against its incident types.
    public func loadPlan() throws(CommandFailure) -> Renderer {
        do {
            return try Renderer.load(contentsOf: configuration.planPath)
        } catch {
            throw .invalidInput(
                "the plan \(configuration.planPath) (plan, ESCALATOR_PLAN) cannot be used: "
                    + error.problems.prefix(3).map(\.description).joined(separator: "; ")
                    + (error.problems.count > 3 ? "; and \(error.problems.count - 3) more (run escalator check-config)" : ""))
        }
    }

    /// Runs `body` with the workers' store (SQLite or PostgreSQL, from store / ESCALATOR_STORE).
    /// A SQLite path with no store behind it is an error rather than a new empty store: an empty
    /// listing would hide a wrong ESCALATOR_STORE.
    public func withStoreForReading<Result: Sendable>(
        logger: Logger, _ body: @Sendable (any IncidentStore) async throws(CommandFailure) -> Result
    ) async throws(CommandFailure) -> Result {
        let written = configuration.store
        let location: IncidentStoreLocation
        do {
            location = try IncidentStoreLocation(parsing: written)
        } catch {
            throw CommandFailure("the store \(written) (store, ESCALATOR_STORE) cannot be used: \(error)")
        }
        if case .sqlite(let sqlite) = location, !FileManager.default.fileExists(atPath: sqlite.path) {
            throw CommandFailure(
                "there is no store at \(sqlite.path) (store, ESCALATOR_STORE): point it at the file the workers use; "
                    + "a worker creates it when it starts")
        }
        do {
            return try await location.withStore(logger: logger) { store in try await body(store) }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("cannot open the store \(location): \(error)")
        }
    }
}

extension Logger {
    /// A logger for one-shot commands: the command reports failures itself, so the adapter's
    /// own messages are shown only when they are critical.
    public static func quiet(_ label: String, level: Logger.Level = .critical) -> Logger {
        var logger = Logger(label: label) { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        logger.logLevel = level
        return logger
    }
}
