public import CallTree
import Foundation
import Synchronization

/// A store's name as the owner of the outbox messages it writes (`incident.outbox_owner`): each
/// store opened, that is each worker, has its own, and its relay publishes what it owns. Also
/// the log of the incidents its writes took over from another store, for its relay (see
/// `IncidentStore.outboxTakeovers(since:)`); one relay per store.
public final class OutboxOwner: Sendable {
    public let name = UUID().uuidString
    private let log = Mutex(TakeoverLog())

    public init() {}

    /// One write transaction's part: what it records as the owner of the messages it writes,
    /// and the takeovers it logs. Settle it once the transaction ended, committed or not.
    public func transaction() -> Transaction { Transaction(owner: self) }

    public final class Transaction: Sendable {
        private let owner: OutboxOwner
        fileprivate let indices = Mutex<[Int]>([])

        fileprivate init(owner: OutboxOwner) { self.owner = owner }

        /// What a write of `changes` at `time` records in `incident.outbox_owner` and
        /// `outbox_owned_at`: this store, and the time, when it writes messages; nil (both
        /// kept) otherwise. Writing messages for an incident another store owned makes all of its
        /// unpublished ones this store's, earlier ones included: that takeover is logged before
        /// the commit, for the relay. `found` is the incident the write looked up, and its owner.
        public func ownership(of changes: IncidentChanges, at time: Timestamp, found: (id: IncidentID, owner: String?)?)
            -> (owner: String, since: Int64)?
        {
            guard !changes.outbox.isEmpty else { return nil }
            // A trigger opening a new incident over a resolved one takes nothing over.
            if let found, let previous = found.owner, previous != owner.name, changes.state.map({ $0.id == found.id }) ?? true {
                owner.logTakeover(of: found.id, in: self)
            }
            return (owner.name, time.millisecondsSinceEpoch)
        }

        public func settle() { owner.settle(self) }
    }

    private struct TakeoverLog {
        struct Entry {
            var index: Int
            var incident: IncidentID
            var settled: Bool
        }

        var next = 0
        /// In index order.
        var entries: [Entry] = []
    }

    private func logTakeover(of incident: IncidentID, in transaction: Transaction) {
        let index = log.withLock { log in
            defer { log.next += 1 }
            log.entries.append(TakeoverLog.Entry(index: log.next, incident: incident, settled: false))
            return log.next
        }
        transaction.indices.withLock { $0.append(index) }
    }

    private func settle(_ transaction: Transaction) {
        let indices = transaction.indices.withLock { $0 }
        guard !indices.isEmpty else { return }
        log.withLock { log in
            for index in indices {
                if let position = log.entries.firstIndex(where: { $0.index == index }) { log.entries[position].settled = true }
            }
        }
    }

    /// The first takeover not settled now (or the next one); those before it are forgotten.
    public func baseline() -> Int {
        log.withLock { log in
            let first = log.entries.first { !$0.settled }?.index ?? log.next
            log.entries.removeAll { $0.index < first }
            return first
        }
    }

    /// The incidents of the takeovers from `baseline` on.
    public func incidentsTakenOver(since baseline: Int) -> Set<IncidentID> {
        log.withLock { log in Set(log.entries.lazy.filter { $0.index >= baseline }.map(\.incident)) }
    }
}
