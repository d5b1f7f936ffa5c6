import AMQP
import CallTree
import Foundation
import WireContract

/// `count` incident.v1 triggers of `type`, keys `<prefix>-0` … `<prefix>-<count-1>`, encoded before
/// any clock starts.
func makeTriggers(prefix: String, type: String, count: Int, exchange: String) throws -> [OutboundMessage] {
    let occurredAt = RFC3339.format(Timestamp(Date()))
    return try (0..<count).map { index in
        let key = "\(prefix)-\(index)"
        let body = IncidentEventBody(
            eventID: "\(key)-trigger", action: .trigger, incidentKey: key, type: type, severity: 2,
            title: "Benchmark incident \(key)", occurredAt: occurredAt)
        return OutboundMessage(
            exchange: exchange, routingKey: "incident.\(type)", body: try WireJSON.encode(body),
            properties: MessageProperties(contentType: "application/json", messageID: "\(key)-trigger"))
    }
}

/// The index in a key `<prefix>-<index>`.
func incidentIndex(ofKey key: String, prefix: String) -> Int? {
    guard key.hasPrefix(prefix + "-") else { return nil }
    return Int(key.dropFirst(prefix.count + 1))
}

/// Publishes everything as fast as confirms allow: `lanes` publishers each with one batch in
/// flight at a time. Returns each message's publish time (when its batch was handed over).
func publishAtFullSpeed(_ messages: [OutboundMessage], publisher: AMQPPublisher, batchSize: Int, lanes: Int) async throws -> [Int64] {
    let starts = Array(stride(from: 0, to: messages.count, by: batchSize))
    return try await withThrowingTaskGroup(of: [(Range<Int>, Int64)].self) { group in
        for lane in 0..<lanes {
            group.addTask {
                var stamps: [(Range<Int>, Int64)] = []
                for batch in stride(from: lane, to: starts.count, by: lanes) {
                    let range = starts[batch]..<min(starts[batch] + batchSize, messages.count)
                    let stamp = wallNanoseconds()
                    let outcomes = try await publisher.publish(Array(messages[range]))
                    guard outcomes.allSatisfy(\.isConfirmed) else { throw BenchmarkError("a trigger was not confirmed: \(outcomes)") }
                    stamps.append((range, stamp))
                }
                return stamps
            }
        }
        var stamps = [Int64](repeating: 0, count: messages.count)
        for try await lane in group {
            for (range, stamp) in lane {
                for index in range { stamps[index] = stamp }
            }
        }
        return stamps
    }
}

/// Publishes at `rate` messages per second (whatever is due every millisecond or so, its confirm
/// not awaited before the next), and returns each message's publish time.
func publishPaced(_ messages: [OutboundMessage], publisher: AMQPPublisher, rate: Int) async throws -> [Int64] {
    let start = ContinuousClock.now
    return try await withThrowingTaskGroup(of: (Range<Int>, Int64).self) { group in
        var sent = 0
        while sent < messages.count {
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let due = min(messages.count, Int(seconds * Double(rate)) + 1)
            if due > sent {
                let range = sent..<due
                let batch = Array(messages[range])
                group.addTask {
                    let stamp = wallNanoseconds()
                    let outcomes = try await publisher.publish(batch)
                    guard outcomes.allSatisfy(\.isConfirmed) else { throw BenchmarkError("a trigger was not confirmed: \(outcomes)") }
                    return (range, stamp)
                }
                sent = due
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        var stamps = [Int64](repeating: 0, count: messages.count)
        for try await (range, stamp) in group {
            for index in range { stamps[index] = stamp }
        }
        return stamps
    }
}
