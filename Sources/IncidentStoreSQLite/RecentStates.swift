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
    /// The outbox rows of the messages kept, in sequence order.
    var outbox: [OutboxRecord] = []
    /// The outbox rows of the message being written, kept with it.
    var currentOutbox: [OutboxRecord] = []
}

/// Outbox rows this store committed, in sequence order, until its relay takes them
/// (`writtenOutbox(after:limit:)`): under load the relay publishes them without reading them
/// back. Only while this store is the file's one writer of outbox rows: with another, an incident
/// it takes over must not have its rows published from here as well, and the relay reads.
final class WrittenOutbox: Sendable {
    private struct State {
        /// In sequence order from `head`; rows committed while it was full are not kept (they are
        /// read).
        var rows: [OutboxRecord] = []
        var head = 0
        /// The outbox's sequence (`sqlite_sequence`) as this store's last write left it.
        var sequenceAfterLastWrite: Int64?
        var anotherWriter = false
        /// None is handed over twice, whichever relay asks.
        var handedThrough: Int64 = 0

        var count: Int { rows.count - head }

        /// At the start of one of this store's writes: a sequence moved since its last write is
        /// another writer's doing, which ends the hand-over. True when it ended just now.
        mutating func writing(sequenceNow: Int64?) -> Bool {
            guard !anotherWriter, let previous = sequenceAfterLastWrite, sequenceNow != previous else { return false }
            anotherWriter = true
            rows = []
            head = 0
            return true
        }
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Called after each write of messages that commits, in commit order (the one writer's), with
    /// the outbox's sequence when it began and when it ended. True when another writer's rows,
    /// noticed now, ended the hand-over.
    func committed(_ more: [OutboxRecord], sequenceBefore: Int64?, sequenceAfter: Int64?) -> Bool {
        state.withLock { state in
            let ended = state.writing(sequenceNow: sequenceBefore)
            state.sequenceAfterLastWrite = sequenceAfter
            guard !state.anotherWriter, !more.isEmpty, state.count + more.count <= capacity else { return ended }
            if state.head > 0, state.head >= state.count {
                state.rows.removeFirst(state.head)
                state.head = 0
            }
            state.rows.append(contentsOf: more)
            return ended
        }
    }

    /// Called at the start of this store's other writes (marks). True when another writer's
    /// rows, noticed now, ended the hand-over.
    func writing(sequenceNow: Int64?) -> Bool {
        state.withLock { $0.writing(sequenceNow: sequenceNow) }
    }

    /// The rows right after `sequence`, up to the first gap, at most `limit`; none when
    /// `sequence` is where this store's last write left the outbox (the relay has everything);
    /// nil when the first kept one is not the next sequence.
    func take(after sequence: Int64, limit: Int) -> [OutboxRecord]? {
        state.withLock { state in
            // What the relay has passed is done with.
            while state.head < state.rows.count, state.rows[state.head].sequence <= sequence { state.head += 1 }
            guard limit > 0, !state.anotherWriter else { return nil }
            guard state.head < state.rows.count else {
                // Its writes ring the relay's doorbell once counted here: a later one is not missed.
                return sequence == state.sequenceAfterLastWrite && sequence >= state.handedThrough ? [] : nil
            }
            guard state.rows[state.head].sequence == sequence + 1, sequence + 1 > state.handedThrough else { return nil }
            var end = state.head + 1
            while end < min(state.head + limit, state.rows.count), state.rows[end].sequence == state.rows[end - 1].sequence + 1 {
                end += 1
            }
            state.handedThrough = state.rows[end - 1].sequence
            return Array(state.rows[state.head..<end])
        }
    }
}
