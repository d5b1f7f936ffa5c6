// store-stress: applies a deterministic set of incident events to an SQLite store file, in an
// order and batch sizes drawn from a seed, each batch prepared first as the worker prepares it.
// The multi-process test runs two at once on one file (both sending every event), then checks
// that each event took effect exactly once.
//
//     store-stress PATH SEED EVENTS KEYS
//
// Prints one line: `applied=N duplicates=N conflicts=N`.
import CallTree
import Foundation
import IncidentStore
import IncidentStoreFixtures
import IncidentStoreSQLite
import Logging

let arguments = CommandLine.arguments
guard arguments.count == 5, let seed = UInt64(arguments[2]), let events = Int(arguments[3]), let keys = Int(arguments[4]),
    events > 0, keys > 0
else {
    FileHandle.standardError.write(Data("usage: store-stress PATH SEED EVENTS KEYS\n".utf8))
    exit(64)
}

/// SplitMix64: the same seed gives the same order in every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Event `n` for key `key`: opens the key's incident when it has none, else counts itself on it.
func request(_ n: Int, keys: Int) -> ApplyRequest {
    let key = "key-\(n % keys)"
    let now = Timestamp(secondsSinceEpoch: 1_800_000_000 + Int64(n))
    let messageID = "incident:evt-\(n)"
    return ApplyRequest(messageID: messageID, lookup: .key(key), at: now) { input in
        let counted = TimelineItem(at: now, kind: "counted", reference: messageID, summary: "counted \(messageID)")
        guard var state = input.incident?.state else {
            let trigger = Trigger(
                incident: IncidentID("inc-\(key)"), key: key, type: FixturePlan.type, severity: .major, title: key)
            var changes = FixtureWorker().changes(for: .trigger(trigger), input: input, at: now)
            changes.timeline.append(counted)
            return changes
        }
        state.statusSequence += 1
        return IncidentChanges(state: state, timeline: [counted])
    }
}

let store = try SQLiteIncidentStore(
    configuration: SQLiteIncidentStoreConfiguration(path: arguments[1]), logger: Logger(label: "store-stress"))
var generator = SeededGenerator(state: seed)
var order = Array(0..<events)
order.shuffle(using: &generator)

var applied = 0
var duplicates = 0
var conflicts = 0
var next = 0
while next < order.count {
    let size = min(Int.random(in: 1...8, using: &generator), order.count - next)
    let batch = order[next..<next + size].map { request($0, keys: keys) }
    next += size
    // Prepared on a reader first, as the worker does: the other process may record the same
    // events between the read and the write.
    var pending = try await store.prepare(batch)
    while !pending.isEmpty {
        let results = try await store.apply(batch: pending)
        var retry: [ApplyRequest] = []
        for (request, result) in zip(pending, results) {
            switch try result.get() {
            case .applied: applied += 1
            case .alreadyProcessed: duplicates += 1
            case .conflict:
                conflicts += 1
                var again = request
                again.prepared = nil
                retry.append(again)
            }
        }
        pending = retry
    }
}
print("applied=\(applied) duplicates=\(duplicates) conflicts=\(conflicts)")
