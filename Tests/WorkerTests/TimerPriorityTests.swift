import Synchronization
import Testing

@testable import Worker

@Suite("Due times before new incident events", .timeLimit(.minutes(1)))
struct TimerPriorityTests {
    @Test("New events wait while due times are being fired, and go on as soon as the sweep has caught up")
    func intakeWaitsForTheSweep() async throws {
        let priority = TimerPriority()
        // Nothing due: no wait.
        await priority.yieldToTimers(atMost: .seconds(60))

        priority.setTimersDue(true)
        let done = Mutex(false)
        let intake = Task {
            await priority.yieldToTimers(atMost: .seconds(60))
            done.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(!done.withLock { $0 })
        priority.setTimersDue(false)
        await intake.value
        #expect(done.withLock { $0 })
    }

    @Test("A sweep that never catches up slows new events down but does not stop them")
    func intakeIsNeverStopped() async {
        let priority = TimerPriority()
        priority.setTimersDue(true)
        // Returns once the limit has passed, with due times still waiting.
        let start = ContinuousClock.now
        await priority.yieldToTimers(atMost: .milliseconds(50))
        #expect(ContinuousClock.now - start >= .milliseconds(50))
        #expect(priority.areTimersDue)
    }
}
