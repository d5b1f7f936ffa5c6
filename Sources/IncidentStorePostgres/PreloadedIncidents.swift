import CallTree
import IncidentStore

/// What a lookup found: the incident, if any, and which store owns its unpublished messages.
typealias FoundIncident = (incident: StoredIncident?, outboxOwner: String?)

/// The incidents a batch's messages look up, read in one round trip before the first message is
/// applied instead of one per message. Writing an incident makes what was read of it stale: it is
/// forgotten, and a later message of the batch that looks it up reads it again.
struct PreloadedIncidents {
    private var found: [IncidentLookup: Result<FoundIncident, any Error>] = [:]

    /// Nothing read ahead: every message reads its incident itself.
    init() {}

    init(_ found: [IncidentLookup: Result<FoundIncident, any Error>]) {
        self.found = found
    }

    func lookUp(_ lookup: IncidentLookup) -> Result<FoundIncident, any Error>? {
        found[lookup]
    }

    /// Forgets the incident written: what a lookup by its id found, and by its key (`keys`: the
    /// key of the incident read and of the one written, which may be new), the only other way
    /// to find it.
    mutating func forget(_ incident: IncidentID, keys: String?...) {
        found[.id(incident)] = nil
        for case let key? in keys { found[.key(key)] = nil }
    }
}
