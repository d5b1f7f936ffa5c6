import CallTree
import GRDB
public import IncidentStore

extension SQLiteIncidentStore {
    /// Every incident, resolved or not, most recently opened last, at most `limit` (the newest):
    /// what `escalator incidents --all` lists. Not part of `IncidentStore` yet; a store for
    /// several hosts would add it there.
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
