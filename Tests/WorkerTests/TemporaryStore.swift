import Foundation
import IncidentStoreSQLite
import Logging

extension SQLiteIncidentStore {
    /// A fresh store in a folder of its own under the temporary directory.
    static func temporary(_ label: String) throws -> SQLiteIncidentStore {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("escalator-\(label)-\(UUID().uuidString)")
        return try SQLiteIncidentStore(
            configuration: SQLiteIncidentStoreConfiguration(path: folder.appendingPathComponent("store.sqlite").path),
            logger: Logger(label: "test"))
    }
}
