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

    /// The takeovers of one transaction.
    public final class Takeovers: Sendable {
        fileprivate let indices = Mutex<[Int]>([])
        public init() {}
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

    /// A write taking over another store's incident, logged before its transaction commits.
    public func takingOver(_ incident: IncidentID, in transaction: Takeovers) {
        let index = log.withLock { log in
            defer { log.next += 1 }
            log.entries.append(TakeoverLog.Entry(index: log.next, incident: incident, settled: false))
            return log.next
        }
        transaction.indices.withLock { $0.append(index) }
    }

    /// The transaction ended, committed or rolled back.
    public func settle(_ transaction: Takeovers) {
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
