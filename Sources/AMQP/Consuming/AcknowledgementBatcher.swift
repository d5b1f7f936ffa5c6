/// Settles a consumer's deliveries with as few frames as say the same thing.
///
/// A worker acknowledges each delivery once its transaction commits, so a batch of a few hundred
/// deliveries used to cost as many `basic.ack` frames, and as many settle commands in the
/// broker's quorum queue. Here the acknowledgements of one turn of the connection thread are
/// gathered: those that, with the ones before them, cover every delivery still outstanding from
/// the oldest on go as one `basic.ack` with `multiple`; an acknowledgement behind a delivery
/// still unsettled (one deliberately left for redelivery, say) goes on its own, so a `multiple`
/// never covers a delivery nobody acknowledged. Nothing is dropped or reordered in a way the
/// broker could tell apart from the acknowledgements sent one by one.
struct AcknowledgementBatcher {
    enum Frame: Equatable {
        case ack(deliveryTag: UInt64, multiple: Bool)
        case nack(deliveryTag: UInt64, multiple: Bool, requeue: Bool)
    }

    /// Delivery tags received and not settled, ascending (the broker numbers them in order).
    private var outstanding: [UInt64] = []
    /// Where `outstanding` starts: settled tags leave from the front without moving the rest.
    private var start = 0
    /// Outstanding tags acknowledged, their frame not written yet.
    private var acknowledged: Set<UInt64> = []

    /// A delivery was received on this session.
    mutating func received(_ deliveryTag: UInt64) {
        outstanding.append(deliveryTag)
    }

    /// A new session: the old one's deliveries are back in the queue.
    mutating func reset() {
        outstanding.removeAll(keepingCapacity: true)
        start = 0
        acknowledged.removeAll(keepingCapacity: true)
    }

    var outstandingCount: Int { outstanding.count - start }

    /// The frames that settle `acknowledgements` (in the order they were asked for).
    mutating func frames(for acknowledgements: [Acknowledgement]) -> [Frame] {
        var frames: [Frame] = []
        for acknowledgement in acknowledgements {
            let tag = acknowledgement.deliveryTag
            switch acknowledgement.kind {
            case .ack(let multiple):
                if index(of: tag) == nil || (!multiple && acknowledged.contains(tag)) {
                    // Not outstanding, or acknowledged twice: sent as asked, so the broker's
                    // channel error says so, as it would have without batching.
                    send(.ack(deliveryTag: tag, multiple: multiple), after: &frames)
                } else if multiple {
                    for outstandingTag in outstanding[start...] where outstandingTag <= tag {
                        acknowledged.insert(outstandingTag)
                    }
                } else {
                    acknowledged.insert(tag)
                }
            case .nack(let multiple, let requeue):
                // Acks asked for before it go first: a `multiple` nack must not take them back.
                send(.nack(deliveryTag: tag, multiple: multiple, requeue: requeue), after: &frames)
                if multiple {
                    start = outstanding[start...].firstIndex { $0 > tag } ?? outstanding.endIndex
                } else if let index = index(of: tag) {
                    remove(at: index)
                }
            }
        }
        flush(into: &frames)
        compact()
        return frames
    }

    /// A frame sent as asked, after the acknowledgements asked for before it.
    private mutating func send(_ frame: Frame, after frames: inout [Frame]) {
        flush(into: &frames)
        frames.append(frame)
    }

    /// Writes the acknowledged tags: the unbroken run from the oldest outstanding as one
    /// `multiple` ack, each one behind an unsettled delivery on its own.
    private mutating func flush(into frames: inout [Frame]) {
        guard !acknowledged.isEmpty else { return }
        let runStart = start
        while start < outstanding.endIndex, acknowledged.remove(outstanding[start]) != nil {
            start += 1
        }
        if start > runStart {
            // Every delivery before the run is settled already: `multiple` settles exactly the run.
            frames.append(.ack(deliveryTag: outstanding[start - 1], multiple: start - runStart > 1))
        }
        guard !acknowledged.isEmpty else { return }
        for tag in acknowledged.sorted() {
            frames.append(.ack(deliveryTag: tag, multiple: false))
            if let index = index(of: tag) { remove(at: index) }
        }
        acknowledged.removeAll(keepingCapacity: true)
    }

    /// Where an outstanding tag is, by binary search.
    private func index(of tag: UInt64) -> Int? {
        var low = start
        var high = outstanding.endIndex
        while low < high {
            let middle = (low + high) / 2
            if outstanding[middle] < tag { low = middle + 1 } else { high = middle }
        }
        return low < outstanding.endIndex && outstanding[low] == tag ? low : nil
    }

    private mutating func remove(at index: Int) {
        if index == start { start += 1 } else { outstanding.remove(at: index) }
    }

    /// Drops the settled front once it is most of the array.
    private mutating func compact() {
        if start > 0, start >= outstanding.count / 2 {
            outstanding.removeFirst(start)
            start = 0
        }
    }
}
