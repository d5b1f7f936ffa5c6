import CallTree
import IncidentStore
import Synchronization

/// Incident states this process committed or read lately, by incident and version: preparing a
/// transition on an incident written a moment ago (a due time firing, an ack arriving) then
/// skips decoding its stored JSON. A version is written once, so an entry is either exact or
/// not found; the oldest entries make room for new ones.
final class RecentStates: Sendable {
    private struct Entries {
        var states: [IncidentID: StoredIncident] = [:]
        var order: [IncidentID] = []
        var next = 0
    }

    private let entries = Mutex(Entries())
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func state(of incident: IncidentID, version: Int64) -> StoredIncident? {
        entries.withLock { entries in
            guard let stored = entries.states[incident], stored.version == version else { return nil }
            return stored
        }
    }

    /// Only committed states: a version rolled back may be written again with other content.
    func remember(_ incidents: some Sequence<StoredIncident>) {
        entries.withLock { entries in
            for incident in incidents {
                if entries.states.updateValue(incident, forKey: incident.id) != nil { continue }
                if entries.order.count < capacity {
                    entries.order.append(incident.id)
                } else {
                    entries.states[entries.order[entries.next]] = nil
                    entries.order[entries.next] = incident.id
                    entries.next = (entries.next + 1) % capacity
                }
            }
        }
    }
}

/// What the messages of one transaction wrote, kept until it commits.
final class WrittenStates {
    var committedMessages: [StoredIncident] = []
    /// The state of the message being written, kept once its savepoint is released.
    var current: StoredIncident?
}
