import Foundation
import Synchronization

/// A store's name as the owner of the outbox messages it writes (`incident.outbox_owner`): each
/// store opened, that is each worker, has its own, and its relay publishes what it owns.
public final class OutboxOwner: Sendable {
    public let name = UUID().uuidString
    private let handoverCount = Atomic<Int>(0)

    public init() {}

    /// Counted inside the transaction, before its commit, so that a relay reading after it sees
    /// the count (see `IncidentStore.outboxHandovers`).
    public func tookOver() {
        handoverCount.wrappingAdd(1, ordering: .sequentiallyConsistent)
    }

    /// How many times this store wrote messages for an incident whose messages another store owned.
    public var handovers: Int { handoverCount.load(ordering: .sequentiallyConsistent) }
}
