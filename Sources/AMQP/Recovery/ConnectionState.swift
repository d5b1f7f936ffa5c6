/// What a publisher or consumer connection is doing, for callers and health checks.
public enum ConnectionState: Sendable, Hashable, CustomStringConvertible {
    /// The first connection attempt is under way.
    case connecting
    /// Connected, topology declared, confirms selected or consuming.
    case connected
    /// The connection was lost or could not be made; the next attempt follows after `retryIn`.
    /// Publishes wait (they are republished), deliveries pause.
    case recovering(attempt: Int, lastError: AMQPError, retryIn: Duration)
    /// Given up: the error cannot be cured by retrying, or the attempts ran out. Waiting
    /// publishes fail with this error.
    case failed(AMQPError)
    /// Closed on request.
    case closed

    public var description: String {
        switch self {
        case .connecting: "connecting"
        case .connected: "connected"
        case .recovering(let attempt, let lastError, let retryIn):
            "recovering (attempt \(attempt)): \(lastError.message), retrying in \(formatSeconds(retryIn))"
        case .failed(let error): "failed: \(error.message)"
        case .closed: "closed"
        }
    }
}

func formatSeconds(_ duration: Duration) -> String {
    let seconds = duration.seconds
    if seconds < 1 {
        return "\(Int((seconds * 1000).rounded())) ms"
    }
    if seconds >= 10 || seconds == seconds.rounded() {
        return "\(Int(seconds.rounded())) s"
    }
    return "\((seconds * 10).rounded() / 10) s"
}
