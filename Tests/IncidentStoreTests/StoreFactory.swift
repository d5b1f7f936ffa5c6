import Foundation
import IncidentStore
import IncidentStoreSQLite
import Logging
import Testing

/// Makes a fresh, empty store for one test. The conformance suite runs once per factory in
/// `StoreFactory.all`: a PostgreSQL store joins by adding its factory there (when its server is
/// configured), and runs the suite unchanged.
struct StoreFactory: Sendable, CustomTestStringConvertible {
    var name: String
    /// Returns the store and what to do once the test is done with it.
    var make: @Sendable () async throws -> (store: any IncidentStore, cleanUp: @Sendable () -> Void)

    var testDescription: String { name }

    static let sqlite = StoreFactory(name: "SQLite") {
        let folder = try TemporaryFolder()
        let store = try SQLiteIncidentStore(
            configuration: SQLiteIncidentStoreConfiguration(path: folder.path + "/store.sqlite"),
            logger: Logger(label: "test.store"))
        return (store, { folder.remove() })
    }

    static let all: [StoreFactory] = [.sqlite]

    /// Runs `body` with a fresh store of this kind, cleaning up afterwards.
    func withStore(_ body: (any IncidentStore) async throws -> Void) async throws {
        let (store, cleanUp) = try await make()
        defer { cleanUp() }
        try await body(store)
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
