import Testing

@testable import Worker

@Suite("Intake lingers for company only when more events are coming")
struct IntakeLingerTests {
    let linger = Duration.milliseconds(2)
    let start = ContinuousClock.now

    @Test("The first batch of a quiet worker goes at once: nothing says another event is near")
    func firstBatchGoesAtOnce() {
        let rate = IntakeService.ArrivalRate()
        #expect(!rate.expectMore(within: linger, after: 1, at: start))
    }

    @Test("Events a few milliseconds apart (200 a second) go at once instead of waiting in vain")
    func sparseEventsGoAtOnce() {
        let rate = IntakeService.ArrivalRate(lastTaken: start)
        #expect(!rate.expectMore(within: linger, after: 1, at: start + .milliseconds(5)))
        // Two events in 5 ms: the next is 2.5 ms away on average, after the linger.
        #expect(!rate.expectMore(within: linger, after: 2, at: start + .milliseconds(5)))
    }

    @Test("Events a millisecond apart (1,000 a second) wait for the next to share a transaction")
    func denseEventsWait() {
        let rate = IntakeService.ArrivalRate(lastTaken: start)
        #expect(rate.expectMore(within: linger, after: 1, at: start + .milliseconds(1)))
        // Three events in the 3 ms since the last were taken.
        #expect(rate.expectMore(within: linger, after: 3, at: start + .milliseconds(3)))
    }
}
