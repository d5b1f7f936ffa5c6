import AMQP

extension RecoveryPolicy {
    /// How the worker's services wait before trying the store again after it failed: 200 ms,
    /// doubling, at most 10 s.
    static let storeRetry = RecoveryPolicy(initialDelay: .milliseconds(200), maximumDelay: .seconds(10), jitter: 0)

    /// How the worker waits for a store that is not reachable yet at start-up: 500 ms, doubling,
    /// at most 10 s.
    static let storeStartup = RecoveryPolicy(initialDelay: .milliseconds(500), maximumDelay: .seconds(10), jitter: 0)
}
