import AMQP
import CallTree
import IncidentStore
import Logging
import ServiceLifecycle

/// Fires due times: claims what has come due (with a lease, so a worker that dies only delays
/// its claims by the lease), applies each as a `.dueTimeReached` event, and sleeps until the
/// next one or until this worker writes an earlier one.
final class DueTimeSweep: Service, Sendable {
    private let store: any IncidentStore
    private let processor: EscalationProcessor
    private let clock: any WallClock
    private let doorbell: Doorbell
    private let interval: Duration
    private let lease: Duration
    private let batchSize: Int
    private let retention: Duration
    private let applied: @Sendable () -> Void
    private let priority: TimerPriority?
    private let logger: Logger

    init(
        store: any IncidentStore, processor: EscalationProcessor, clock: any WallClock, doorbell: Doorbell,
        interval: Duration, lease: Duration, batchSize: Int, retention: Duration, priority: TimerPriority? = nil,
        logger: Logger, applied: @escaping @Sendable () -> Void
    ) {
        self.priority = priority
        self.store = store
        self.processor = processor
        self.clock = clock
        self.doorbell = doorbell
        self.interval = interval
        self.lease = lease
        self.batchSize = batchSize
        self.retention = retention
        self.applied = applied
        var logger = logger
        logger[metadataKey: "service"] = "due-time-sweep"
        self.logger = logger
    }

    func run() async throws {
        var failures = 0
        var lastPrune = Timestamp(millisecondsSinceEpoch: 0)
        // Three batches in flight: one written, the next worked out on a reader, and the one
        // after claimed on the writer meanwhile, so the writer goes from batch to batch without
        // waiting for a prepare.
        var writing: Task<Void, Never>?
        var claimingAhead: Task<Claim, any Error>?
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            var wait = interval
            do {
                let claim: Claim
                if let ahead = claimingAhead {
                    claimingAhead = nil
                    claim = try await ahead.value
                } else {
                    claim = try await claimDue(at: clock.now())
                }
                let now = clock.now()
                switch claim {
                case .claimed(let claims, let claimedAt):
                    claimingAhead = Task { try await self.claimDue(at: self.clock.now()) }
                    let requests = await prepare(claims, at: claimedAt)
                    await writing?.value
                    writing = Task {
                        await self.fire(claims, requests, at: claimedAt)
                        self.applied()
                    }
                    failures = 0
                    continue
                case .claimedElsewhere:
                    // Another worker claimed them first; its lease tells the next time.
                    wait = .milliseconds(10)
                case .nothingDue(let next):
                    if let next { wait = min(interval, max(.zero, next - now)) }
                }
                if now - lastPrune > .seconds(3600) {
                    lastPrune = now
                    let summary = try await store.prune(
                        resolvedBefore: Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch - retention.milliseconds))
                    logger.debug("pruned", metadata: ["summary": "\(summary)"])
                }
                failures = 0
            } catch {
                failures += 1
                wait = RecoveryPolicy.storeRetry.delay(beforeAttempt: failures)
                logger.error("cannot read due times from the store; retrying in \(wait)", metadata: ["error": "\(error)"])
            }
            await writing?.value
            writing = nil
            priority?.setTimersDue(false)
            await cancelWhenGracefulShutdown { [doorbell, wait] in await doorbell.wait(atMost: wait) }
        }
        await writing?.value
        // Due times claimed ahead are fired rather than left to their lease: they are due now.
        if !Task.isCancelled, case .claimed(let claims, let claimedAt)? = try? await claimingAhead?.value {
            await fire(claims, await prepare(claims, at: claimedAt), at: claimedAt)
            applied()
        }
        priority?.setTimersDue(false)
    }

    /// What a look at the due times found.
    private enum Claim: Sendable {
        /// Due times claimed for this worker at `at`.
        case claimed([DueClaim], at: Timestamp)
        /// Nothing is due before `next` (nil: no due time at all).
        case nothingDue(next: Timestamp?)
        /// Something was due, and other workers hold every claim on it.
        case claimedElsewhere
    }

    /// Reading when the next due time comes takes no lock; claiming takes the writer, so it is
    /// done only when something is due.
    private func claimDue(at now: Timestamp) async throws -> Claim {
        let next = try await store.nextDueAt()
        guard let next, next <= now else { return .nothingDue(next: next) }
        priority?.setTimersDue(true)
        let claims = try await store.claimDueTimes(now: now, lease: lease, limit: batchSize)
        return claims.isEmpty ? .claimedElsewhere : .claimed(claims, at: now)
    }

    /// The timeouts worked out on a reader, so the writer is held only for the rows.
    private func prepare(_ claims: [DueClaim], at now: Timestamp) async -> [ApplyRequest] {
        let requests = claims.map { processor.request(for: $0, at: now) }
        return (try? await store.prepare(requests)) ?? requests
    }

    private func fire(_ claims: [DueClaim], _ requests: [ApplyRequest], at now: Timestamp) async {
        let results: [Result<ApplyOutcome, any Error>]
        do {
            results = try await store.apply(batch: requests)
        } catch {
            // Nothing was kept; the claims lapse after their lease and fire then.
            logger.error("due times could not be applied", metadata: ["error": "\(error)", "count": "\(claims.count)"])
            return
        }
        for (claim, result) in zip(claims, results) {
            let metadata: Logger.Metadata = ["incident_id": "\(claim.incident)", "due": "\(claim.id)"]
            let lateness = now - claim.at
            switch result {
            case .success(.applied), .success(.alreadyProcessed):
                logger.debug("due time fired", metadata: metadata.merging(["late_ms": "\(lateness.milliseconds)"]) { $1 })
            case .success(.conflict):
                // The incident changed under us: give the claim back so the next sweep runs it on the new state.
                _ = try? await store.releaseDueTime(claim)
            case .failure(let error):
                logger.error("due time failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                _ = try? await store.releaseDueTime(claim)
            }
        }
    }
}
