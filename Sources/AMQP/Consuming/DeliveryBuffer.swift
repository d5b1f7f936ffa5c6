import Synchronization

/// Hands deliveries from the consumer thread to one async reader. Its size is bounded by the
/// prefetch: the broker sends no more than that many unacknowledged messages.
final class DeliveryBuffer: Sendable {
    private struct State {
        var deliveries: [Delivery] = []
        var readIndex = 0
        var waiter: CheckedContinuation<[Delivery]?, any Error>?
        var waiterMaximumCount = 1
        var end: AMQPError?? = nil
    }

    private let state = Mutex(State())

    func append(_ batch: [Delivery]) {
        guard !batch.isEmpty else { return }
        let resumed: (CheckedContinuation<[Delivery]?, any Error>, [Delivery])? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                let handed = batch.prefix(state.waiterMaximumCount)
                state.deliveries.append(contentsOf: batch.dropFirst(handed.count))
                return (waiter, Array(handed))
            }
            state.deliveries.append(contentsOf: batch)
            return nil
        }
        if let (waiter, batch) = resumed { waiter.resume(returning: batch) }
    }

    /// No more deliveries: the reader sees the end (nil) or `error`.
    func finish(_ error: AMQPError?) {
        let waiter = state.withLock { state in
            if state.end == nil { state.end = .some(error) }
            defer { state.waiter = nil }
            return state.waiter
        }
        guard let waiter else { return }
        if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
    }

    /// Up to `maximumCount` of the deliveries already here, without waiting; empty when none are.
    func available(maximumCount: Int) -> [Delivery] {
        state.withLock { state in
            let count = min(state.deliveries.count - state.readIndex, maximumCount)
            guard count > 0 else { return [] }
            let batch = Array(state.deliveries[state.readIndex..<(state.readIndex + count)])
            state.readIndex += count
            if state.readIndex == state.deliveries.count {
                state.deliveries.removeAll(keepingCapacity: true)
                state.readIndex = 0
            }
            return batch
        }
    }

    /// Up to `maximumCount` deliveries, waiting for at least one; nil at the end.
    func next(maximumCount: Int) async throws -> [Delivery]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Delivery]?, any Error>) in
                enum Immediate {
                    case deliveries([Delivery])
                    case end(AMQPError?)
                    case cancelled
                    case wait
                }
                let immediate: Immediate = state.withLock { state in
                    let available = state.deliveries.count - state.readIndex
                    if available > 0 {
                        let count = min(available, maximumCount)
                        let batch = Array(state.deliveries[state.readIndex..<(state.readIndex + count)])
                        state.readIndex += count
                        if state.readIndex == state.deliveries.count {
                            state.deliveries.removeAll(keepingCapacity: true)
                            state.readIndex = 0
                        } else if state.readIndex > 1024 {
                            // A reader that never quite catches up must not keep what it has read.
                            state.deliveries.removeFirst(state.readIndex)
                            state.readIndex = 0
                        }
                        return .deliveries(batch)
                    }
                    if let end = state.end { return .end(end) }
                    if Task.isCancelled { return .cancelled }
                    precondition(state.waiter == nil, "an AMQPConsumer has one reader at a time")
                    state.waiter = continuation
                    state.waiterMaximumCount = maximumCount
                    return .wait
                }
                switch immediate {
                case .deliveries(let batch): continuation.resume(returning: batch)
                case .end(let error?): continuation.resume(throwing: error)
                case .end(nil): continuation.resume(returning: nil)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
