import Foundation
public import IncidentStore
public import IncidentStorePostgres
public import IncidentStoreSQLite
public import Logging
public import ServiceLifecycle

/// Which store a worker uses, from configuration (`ESCALATOR_STORE`):
///
/// | value | store |
/// |---|---|
/// | unset or empty | SQLite at `data/escalator.sqlite` |
/// | `sqlite:///var/lib/escalator/store.sqlite`, `sqlite:data/store.sqlite` | SQLite at that path |
/// | `/var/lib/escalator/store.sqlite`, `data/store.sqlite` (no scheme) | SQLite at that path |
/// | `postgres://user:password@host:5432/database?schema=escalator` (`postgresql://` too) | PostgreSQL |
///
/// PostgreSQL options: `sslmode=disable|prefer|require`, `schema`, `pool` (connections), `wait`
/// (seconds for a connection), `clock=database|caller` (see `PostgresIncidentStoreConfiguration`).
public enum IncidentStoreLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(SQLiteIncidentStoreConfiguration)
    case postgres(PostgresIncidentStoreConfiguration)

    /// The environment variable the worker reads.
    public static let environmentVariable = "ESCALATOR_STORE"

    /// Parses one value of `ESCALATOR_STORE`; errors say what is wrong and what to write.
    public init(parsing value: String) throws {
        let text = value.trimmingCharacters(in: .whitespaces)
        func invalid(_ problem: String) -> IncidentStoreError {
            IncidentStoreError(
                .invalidConfiguration,
                "\(Self.environmentVariable) \(problem). Write sqlite:///PATH (or a file path) for SQLite, or "
                    + "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE for PostgreSQL.")
        }
        guard !text.isEmpty else { throw invalid("is empty") }
        let lowered = text.lowercased()
        if lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") {
            do {
                self = .postgres(try PostgresIncidentStoreConfiguration(url: text))
            } catch let error as IncidentStoreError {
                throw IncidentStoreError(error.code, "\(Self.environmentVariable): \(error.message)")
            }
            return
        }
        var path = text
        if lowered.hasPrefix("sqlite://") {
            path = String(text.dropFirst("sqlite://".count))
        } else if lowered.hasPrefix("sqlite:") {
            path = String(text.dropFirst("sqlite:".count))
        } else if let scheme = Self.scheme(of: text) {
            throw invalid("names an unknown kind of store \"\(scheme)\" (\(text))")
        }
        guard !path.isEmpty else { throw invalid("names no SQLite file (\(text))") }
        guard !path.hasSuffix("/") else { throw invalid("names a folder, not a file (\(text))") }
        guard !path.contains("?") else { throw invalid("has options (\(text)); the SQLite store takes none") }
        self = .sqlite(SQLiteIncidentStoreConfiguration(path: path))
    }

    /// The location `ESCALATOR_STORE` gives, or SQLite under `dataFolder` when it is unset or empty.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, dataFolder: String = "data"
    ) throws -> IncidentStoreLocation {
        let value = environment[environmentVariable] ?? ""
        if value.trimmingCharacters(in: .whitespaces).isEmpty {
            return .sqlite(SQLiteIncidentStoreConfiguration(path: SQLiteIncidentStoreConfiguration.defaultPath(dataFolder: dataFolder)))
        }
        return try IncidentStoreLocation(parsing: value)
    }

    /// `scheme` of `scheme://…`, when the text has one.
    private static func scheme(of text: String) -> String? {
        guard let range = text.range(of: "://") else { return nil }
        let scheme = text[..<range.lowerBound]
        guard let first = scheme.first, first.isLetter,
            scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) })
        else { return nil }
        return String(scheme)
    }

    /// Safe for logs: no password.
    public var description: String {
        switch self {
        case .sqlite(let configuration): "sqlite://\(configuration.path)"
        case .postgres(let configuration): configuration.description
        }
    }

    /// Opens the store. For PostgreSQL, run `service` (add it to the worker's `ServiceGroup`
    /// before the services that use the store): it runs the connection pool.
    public func open(logger: Logger) async throws -> OpenedIncidentStore {
        switch self {
        case .sqlite(let configuration):
            return OpenedIncidentStore(
                store: try SQLiteIncidentStore(configuration: configuration, logger: logger), service: nil)
        case .postgres(let configuration):
            let store = try await PostgresIncidentStore.connect(configuration: configuration, logger: logger)
            return OpenedIncidentStore(store: store, service: store)
        }
    }

    /// Opens the store, runs what it needs while `body` uses it, and stops it afterwards.
    public func withStore<Result: Sendable>(
        logger: Logger, _ body: @Sendable (any IncidentStore) async throws -> Result
    ) async throws -> Result {
        let opened = try await open(logger: logger)
        guard let service = opened.service else { return try await body(opened.store) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            defer { group.cancelAll() }
            return try await body(opened.store)
        }
    }
}

/// A store ready to use once its service (if any) runs.
public struct OpenedIncidentStore: Sendable {
    public let store: any IncidentStore
    /// What must run for the store to work (PostgreSQL's connection pool); nil for SQLite.
    public let service: (any Service)?

    public init(store: any IncidentStore, service: (any Service)?) {
        self.store = store
        self.service = service
    }
}
