import Foundation
import IncidentStore
@testable import IncidentStorePostgres
import IncidentStoreSQLite
import Logging
import PostgresNIO
import Synchronization
import Testing

/// Makes a fresh, empty store for one test. The conformance suite runs once per factory in
/// `StoreFactory.all`: a PostgreSQL store joins by adding its factory there (when its server is
/// configured), and runs the suite unchanged.
struct StoreFactory: Sendable, CustomTestStringConvertible {
    var name: String
    /// Opens `count` stores on one fresh database (as that many workers would), and returns
    /// them with what to do once the test is done with them.
    var make: @Sendable (_ count: Int) async throws -> (stores: [any IncidentStore], cleanUp: @Sendable () async -> Void)

    var testDescription: String { name }

    static let sqlite = StoreFactory(name: "SQLite") { count in
        let folder = try TemporaryFolder()
        let stores = try (0..<count).map { _ in
            try SQLiteIncidentStore(
                configuration: SQLiteIncidentStoreConfiguration(path: folder.path + "/store.sqlite"),
                logger: Logger(label: "test.store"))
        }
        return (stores, { folder.remove() })
    }

    /// PostgreSQL stores in a schema of their own, so tests running at once never see each
    /// other's rows; the schema is dropped afterwards. On the caller's clock, as the suite
    /// injects times (`PostgresStoreTests` covers the database's clock).
    static let postgres = StoreFactory(name: "PostgreSQL") { count in
        let configuration = try TestPostgres.configuration()
        var opened: [PostgresIncidentStore] = []
        for _ in 0..<count { opened.append(try await TestPostgres.makeStore(configuration: configuration)) }
        let stores = opened
        return (stores, { for store in stores.reversed() { await TestPostgres.dropStore(store) } })
    }

    /// PostgreSQL joins when `ESCALATOR_TEST_POSTGRES_URL` is set (scripts/test sets it);
    /// otherwise `PostgresStoreTests` shows as skipped.
    static let all: [StoreFactory] = TestPostgres.url == nil ? [.sqlite] : [.sqlite, .postgres]

    /// Runs `body` with a fresh store of this kind, cleaning up afterwards.
    func withStore(_ body: (any IncidentStore) async throws -> Void) async throws {
        try await withStores(1) { try await body($0[0]) }
    }

    /// Runs `body` with two stores of this kind on one fresh database (two workers' views).
    func withTwoStores(_ body: (any IncidentStore, any IncidentStore) async throws -> Void) async throws {
        try await withStores(2) { try await body($0[0], $0[1]) }
    }

    private func withStores(_ count: Int, _ body: ([any IncidentStore]) async throws -> Void) async throws {
        let (stores, cleanUp) = try await make(count)
        do {
            try await body(stores)
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }
}

/// A folder under the system's temporary folder, removed by `remove()`.
struct TemporaryFolder: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("escalator-store-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The private PostgreSQL cluster scripts/test starts (`ESCALATOR_TEST_POSTGRES_URL`), and
/// stores on it in schemas of their own.
enum TestPostgres {
    static let url = ProcessInfo.processInfo.environment["ESCALATOR_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let skipReason: Comment = "ESCALATOR_TEST_POSTGRES_URL is not set: run scripts/test, which starts a private PostgreSQL"

    /// The configuration of a fresh schema on the test cluster.
    static func configuration(clock: PostgresIncidentStoreConfiguration.Clock = .caller) throws
        -> PostgresIncidentStoreConfiguration
    {
        var configuration = try PostgresIncidentStoreConfiguration(url: try #require(url))
        configuration.schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        configuration.maximumConnections = 4
        configuration.connectionWait = .seconds(10)
        configuration.clock = clock
        return configuration
    }

    /// A connected, running store in a fresh schema.
    static func makeStore(
        configuration: PostgresIncidentStoreConfiguration? = nil, clock: PostgresIncidentStoreConfiguration.Clock = .caller
    ) async throws -> PostgresIncidentStore {
        let store = try await PostgresIncidentStore.connect(
            configuration: try configuration ?? self.configuration(clock: clock), logger: Logger(label: "test.store"))
        let runner = Task { await store.run() }
        runners.withLock { $0[ObjectIdentifier(store)] = runner }
        return store
    }

    /// Runs `body` with a connected, running store in a fresh schema, dropped afterwards.
    static func withStore(
        configuration: PostgresIncidentStoreConfiguration? = nil, clock: PostgresIncidentStoreConfiguration.Clock = .caller,
        _ body: (PostgresIncidentStore) async throws -> Void
    ) async throws {
        let store = try await makeStore(configuration: configuration, clock: clock)
        do {
            try await body(store)
        } catch {
            await dropStore(store)
            throw error
        }
        await dropStore(store)
    }

    /// Drops the store's schema and stops its pool.
    static func dropStore(_ store: PostgresIncidentStore) async {
        _ = try? await store.query("dropping the test schema", "DROP SCHEMA \(unescaped: store.configuration.schema) CASCADE")
        let runner = runners.withLock { $0.removeValue(forKey: ObjectIdentifier(store)) }
        runner?.cancel()
        await runner?.value
    }

    private static let runners = Mutex<[ObjectIdentifier: Task<Void, Never>]>([:])
}
