import AMQP
import CallTree
import EscalatorProcessFixtures
import Foundation
import Testing
import WireContract

/// Several workers on the same queues and store, and a worker that dies mid-escalation.
@Suite("Workers side by side", .serialized, .enabled(if: EndToEnd.isAvailable, EndToEnd.unavailableReason))
struct WorkerScalingTests {
    /// Every page id was published with one body only (a duplicate is the same message again).
    static func expectOneBodyPerPageID(_ messages: [WatchedMessage]) {
        var bodies: [String: [UInt8]] = [:]
        for page in messages where page.isPage {
            let id = page.string("page_id")!
            if let known = bodies[id] {
                #expect(known == page.body, "page \(id) was published with two different bodies")
            }
            bodies[id] = page.body
        }
    }

    /// Waits until the even incidents' acks have all taken effect and every odd incident's first
    /// step has timed out (its step-2 page is out): the state upstream resolves them from.
    static func waitForAcksAndFirstTimeouts(_ scenario: Scenario, keyPrefix: String, count: Int) async throws {
        func timedOut(_ messages: [WatchedMessage]) -> Set<String> {
            Set(messages.filter { $0.isPage && $0.position == StepPosition(round: 1, step: 2) }.compactMap { $0.string("incident_key") })
        }
        try await scenario.watcher.wait(for: "every ack and every unanswered incident's first timeout", timeout: .seconds(120)) {
            messages in
            acknowledgedAt(messages).count == count / 2
                && timedOut(messages).filter { Int($0.dropFirst(keyPrefix.count))! % 2 == 1 }.count == count / 2
        }
    }

    /// The position each department was at when its ack committed, from the status updates.
    static func acknowledgedAt(_ messages: [WatchedMessage]) -> [String: StepPosition] {
        var positions: [String: StepPosition] = [:]
        for status in messages where status.isStatus {
            for department in status.json["departments"] as? [[String: any Sendable]] ?? []
            where department["state"] as? String == "acknowledged" {
                let key = "\(status.incidentID!)/\(department["department"] as! String)"
                if positions[key] == nil, let round = department["round"] as? Int, let step = department["step"] as? Int {
                    positions[key] = StepPosition(round: round, step: step)
                }
            }
        }
        return positions
    }

    @Test func twoWorkersCarry200IncidentsWithAcksTimeoutsAndResolves() async throws {
        let scenario = try await Scenario("two-workers")
        let workers = [try scenario.startWorker(), try scenario.startWorker()]
        let count = 200
        for number in 1...count {
            try await scenario.trigger(key: "load-\(number)", severity: 2)
        }

        // Even incidents are acknowledged by op-1 as soon as its page arrives; odd ones time out.
        var replied = Set<String>()
        let deadline = ContinuousClock.now + .seconds(60)
        while replied.count < count / 2 && ContinuousClock.now < deadline {
            for page in scenario.watcher.messages where page.isPage && page.position == StepPosition(round: 1, step: 1) {
                let key = page.string("incident_key")!
                guard let number = Int(key.dropFirst("load-".count)), number % 2 == 0, !replied.contains(key) else { continue }
                replied.insert(key)
                try await scenario.reply(to: page, replyID: "ack-\(key)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(replied.count == count / 2)
        try await Self.waitForAcksAndFirstTimeouts(scenario, keyPrefix: "load-", count: count)
        for number in 1...count {
            try await scenario.resolve(key: "load-\(number)")
        }

        let messages = try await scenario.watcher.wait(for: "every incident resolved", timeout: .seconds(90)) { messages in
            Set(messages.filter { $0.isStatus && $0.string("state") == "resolved" }.compactMap(\.incidentID)).count == count
        }
        Self.expectOneBodyPerPageID(messages)
        // Each incident's messages are published by one worker's relay, not by both.
        let ids = messages.compactMap(\.messageID)
        #expect(ids.count - Set(ids).count <= Set(ids).count / 10, "\(ids.count) messages for \(Set(ids).count) message ids")
        let acknowledged = Self.acknowledgedAt(messages)
        #expect(acknowledged.count >= count / 2)
        for page in messages where page.isPage {
            if let ackPosition = acknowledged["\(page.incidentID!)/\(page.department!)"] {
                #expect(page.position! <= ackPosition, "\(page.string("page_id")!) paged after the ack at \(ackPosition)")
            }
        }
        for worker in workers {
            #expect(await worker.terminate() == 0)
        }
        await scenario.close()
    }

    @Test func aWorkerKilledMidEscalationIsFinishedByAnother() async throws {
        let scenario = try await Scenario("sigkill")
        let lease = ["ESCALATOR_SWEEP_LEASE": "2s"]
        let first = try scenario.startWorker(lease)
        let count = 20
        for number in 1...count {
            try await scenario.trigger(key: "kill-\(number)", severity: 2)
        }
        try await scenario.watcher.wait(for: "every incident paged") { messages in
            Set(messages.filter(\.isPage).compactMap(\.incidentID)).count == count
        }
        try await Task.sleep(for: .milliseconds(2500))  // some due times claimed, some steps moved on
        await first.kill()
        let second = try scenario.startWorker(lease)

        // Every step of every escalation is still paged: operations' two steps in both rounds,
        // then the command centre it falls back to.
        let expected: [(String, StepPosition)] = [
            ("operations", StepPosition(round: 1, step: 1)), ("operations", StepPosition(round: 1, step: 2)),
            ("operations", StepPosition(round: 2, step: 1)), ("operations", StepPosition(round: 2, step: 2)),
            ("command-centre", StepPosition(round: 1, step: 1)),
        ]
        let messages = try await scenario.watcher.wait(for: "every escalation finished", timeout: .seconds(60)) { messages in
            let paged = Set(messages.filter(\.isPage).map { "\($0.incidentID!)/\($0.department!)/\($0.position!)" })
            let incidents = Set(messages.filter(\.isPage).compactMap(\.incidentID))
            return incidents.count == count
                && incidents.allSatisfy { incident in expected.allSatisfy { paged.contains("\(incident)/\($0.0)/\($0.1)") } }
        }
        Self.expectOneBodyPerPageID(messages)
        #expect(await second.terminate() == 0)
        await scenario.close()
    }
}
