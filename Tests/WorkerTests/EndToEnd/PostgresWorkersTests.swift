import AMQP
import CallTree
import EscalatorProcessFixtures
import Foundation
import Testing

/// Workers on several hosts share one PostgreSQL database: three worker processes on the real
/// broker and the private cluster `scripts/test` starts, one of them killed half way.
@Suite(
    "Workers on PostgreSQL", .serialized,
    .enabled(
        if: EndToEnd.isAvailable && ProcessInfo.processInfo.environment["ESCALATOR_TEST_POSTGRES_URL"] != nil,
        "ESCALATOR_TEST_AMQP_URL or ESCALATOR_TEST_POSTGRES_URL is not set: run scripts/test"))
struct PostgresWorkersTests {
    @Test func threeWorkersCarry500IncidentsThroughOneKilledHalfWay() async throws {
        let scenario = try await Scenario("postgres")
        let database = ProcessInfo.processInfo.environment["ESCALATOR_TEST_POSTGRES_URL"]!
        let environment = [
            // A schema of its own: the test sees only its own incidents.
            "ESCALATOR_STORE": "\(database)?schema=e2e_\(UInt32.random(in: 0...UInt32.max))",
            "ESCALATOR_SWEEP_LEASE": "2s",
        ]
        var workers = try (0..<3).map { _ in try scenario.startWorker(environment) }
        let count = 500
        for number in 1...count {
            try await scenario.trigger(key: "pg-\(number)", severity: 2)
        }

        // Even incidents are acknowledged by op-1 once its page arrives; odd ones time out and
        // walk their call order. Half way through the acks, one worker is killed.
        var replied = Set<String>()
        var killed = false
        let deadline = ContinuousClock.now + .seconds(120)
        while replied.count < count / 2 && ContinuousClock.now < deadline {
            for page in scenario.watcher.messages where page.isPage && page.position == StepPosition(round: 1, step: 1) {
                let key = page.string("incident_key")!
                guard let number = Int(key.dropFirst("pg-".count)), number % 2 == 0, !replied.contains(key) else { continue }
                replied.insert(key)
                try await scenario.reply(to: page, replyID: "ack-\(key)")
            }
            if !killed && replied.count >= count / 4 {
                await workers[0].kill()
                workers.removeFirst()
                killed = true
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(killed)
        #expect(replied.count == count / 2)

        // Every ack takes effect and every unanswered incident times out at least once, killed
        // worker or not, before upstream resolves them all.
        try await WorkerScalingTests.waitForAcksAndFirstTimeouts(scenario, keyPrefix: "pg-", count: count)
        for number in 1...count {
            try await scenario.resolve(key: "pg-\(number)")
        }

        let messages = try await scenario.watcher.wait(for: "every incident resolved", timeout: .seconds(240)) { messages in
            Set(messages.filter { $0.isStatus && $0.string("state") == "resolved" }.compactMap(\.incidentID)).count == count
        }
        WorkerScalingTests.expectOneBodyPerPageID(messages)
        let acknowledged = WorkerScalingTests.acknowledgedAt(messages)
        #expect(acknowledged.count == count / 2)
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
}
