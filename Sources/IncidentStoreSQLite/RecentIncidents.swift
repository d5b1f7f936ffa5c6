import CallTree
import GRDB
public import IncidentStore

extension SQLiteIncidentStore {
    public func recentIncidents(limit: Int) async throws -> [StoredIncident] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT id, state, version FROM (
                            SELECT id, state, version, opened_at FROM incident ORDER BY opened_at DESC, id DESC LIMIT ?
                        ) ORDER BY opened_at, id
                        """,
                    arguments: [max(0, limit)]
                ).map(Rows.incident)
            }
        } catch let error as IncidentStoreError {
            throw error
        } catch {
            throw IncidentStoreError(.databaseFailed, "reading the incidents of \(configuration.path): \(error)")
        }
    }
}
