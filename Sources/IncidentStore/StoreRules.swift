import CallTree
public import struct Foundation.Data
import class Foundation.JSONDecoder
import class Foundation.JSONEncoder

// What every store implementation checks and says the same way.

extension IncidentStoreError {
    /// A transition opened a new incident for a key whose incident is still open.
    public static func openedOverOpenIncident(
        message: String, opened state: IncidentState, open current: IncidentID
    ) -> IncidentStoreError {
        IncidentStoreError(
            .invalidChanges,
            "message \(message): its transition opened incident \(state.id) for key \(state.key) while incident "
                + "\(current) is open with that key; a trigger for an open key must update that incident.")
    }

    /// A message found no incident and opened none, yet has rows other than timeline entries.
    public static func rowsWithoutIncident(message: String, lookup: IncidentLookup) -> IncidentStoreError {
        IncidentStoreError(
            .invalidChanges,
            "message \(message) found no incident (\(lookup)) and opened none, yet has rows to write: they would "
                + "belong to no incident.")
    }
}

extension IncidentState {
    /// The JSON a store keeps for the state; `.invalidChanges` naming the message when it
    /// cannot be encoded.
    public func storedJSON(message: String) throws -> Data {
        do {
            return try JSONEncoder().encode(self)
        } catch {
            throw IncidentStoreError(.invalidChanges, "message \(message): cannot encode the state of \(id): \(error)")
        }
    }
}

extension StoredIncident {
    /// Decodes a stored state; `.corruptRow` naming the incident when it cannot.
    public init(id: String, storedJSON: Data, version: Int64) throws {
        do {
            self.init(state: try JSONDecoder().decode(IncidentState.self, from: storedJSON), version: version)
        } catch {
            throw IncidentStoreError(
                .corruptRow,
                "cannot decode the state of incident \(id): \(error). The row was written by another version of "
                    + "Escalator; run the version that wrote it, or migrate the store.")
        }
    }
}
