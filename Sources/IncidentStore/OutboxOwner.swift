import Foundation
import Synchronization

/// A store's name as the owner of the outbox messages it writes (`incident.outbox_owner`): each
/// store opened, that is each worker, has its own, and its relay publishes what it owns.
public final class OutboxOwner: Sendable {
    public let name = UUID().uuidString
    private let begun = Atomic<Int>(0)
    private let settled = Atomic<Int>(0)

    public init() {}

    /// The takeovers of one transaction.
    public final class Takeovers: Sendable {
        fileprivate let count = Atomic<Int>(0)
        public init() {}
    }

    /// A write taking over another store's incident, counted before its transaction commits.
    public func takingOver(in transaction: Takeovers) {
        transaction.count.wrappingAdd(1, ordering: .sequentiallyConsistent)
        begun.wrappingAdd(1, ordering: .sequentiallyConsistent)
    }

    /// The transaction ended, committed or rolled back.
    public func settle(_ transaction: Takeovers) {
        settled.wrappingAdd(transaction.count.load(ordering: .sequentiallyConsistent), ordering: .sequentiallyConsistent)
    }

    public var handovers: OutboxHandovers {
        // Settled first: a takeover is never seen settled and not begun.
        let settled = settled.load(ordering: .sequentiallyConsistent)
        return OutboxHandovers(begun: begun.load(ordering: .sequentiallyConsistent), settled: settled)
    }
}

/// How many writes of a store took over an incident whose unpublished messages another store
/// owned: `begun` counts them before they commit, `settled` once their transaction ended.
public struct OutboxHandovers: Sendable, Hashable {
    public var begun: Int
    public var settled: Int

    public init(begun: Int, settled: Int) {
        self.begun = begun
        self.settled = settled
    }
}
