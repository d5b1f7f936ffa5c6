import Synchronization

/// Lets due times go ahead of new incident events at the store's single writer. While the sweep
/// has due times to fire, the incident intake holds its next write back (for a bounded time), so
/// escalations already running keep their timing when a burst of new events arrives; the events
/// wait in their queue meanwhile, unacknowledged and safe. Replies are never held back.
final class TimerPriority: Sendable {
    private let timersDue = Mutex(false)
    private let cleared = Doorbell()

    /// The sweep found due times to fire (true) or has none left for now (false).
    func setTimersDue(_ due: Bool) {
        let changed = timersDue.withLock { value -> Bool in
            defer { value = due }
            return value != due
        }
        if changed, !due { cleared.ring() }
    }

    var areTimersDue: Bool { timersDue.withLock { $0 } }

    /// Returns at once when no due time waits, else when the sweep has caught up or after
    /// `limit`, so the intake is slowed, never stopped.
    func yieldToTimers(atMost limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while areTimersDue {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return }
            await cleared.wait(atMost: left)
        }
    }
}
