import Foundation

/// How a lost connection is re-established: capped exponential backoff with jitter.
public struct RecoveryPolicy: Sendable {
    /// The delay before the first retry.
    public var initialDelay: Duration
    /// The largest delay between two attempts.
    public var maximumDelay: Duration
    public var multiplier: Double
    /// The share of each delay drawn at random, so that many workers do not retry in step.
    public var jitter: Double
    /// `nil` retries for as long as the process runs: a worker outlives a broker outage.
    public var maximumAttempts: Int?

    public init(
        initialDelay: Duration = .milliseconds(500),
        maximumDelay: Duration = .seconds(30),
        multiplier: Double = 2,
        jitter: Double = 0.2,
        maximumAttempts: Int? = nil
    ) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.jitter = jitter
        self.maximumAttempts = maximumAttempts
    }

    /// The delay before retry number `attempt` (counted from 1), drawn from the system's generator.
    public func delay(beforeAttempt attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(beforeAttempt: attempt, using: &generator)
    }

    /// The delay before retry number `attempt` (counted from 1).
    public func delay<Generator: RandomNumberGenerator>(
        beforeAttempt attempt: Int, using generator: inout Generator
    ) -> Duration {
        let exponent = Double(max(0, attempt - 1))
        let uncapped = initialDelay.seconds * pow(multiplier, exponent)
        let capped = min(uncapped, maximumDelay.seconds)
        let spread = capped * min(max(jitter, 0), 1)
        let jittered = capped - spread + Double.random(in: 0...(2 * spread), using: &generator)
        return .milliseconds(Int64(max(0, min(jittered, maximumDelay.seconds)) * 1000))
    }
}
