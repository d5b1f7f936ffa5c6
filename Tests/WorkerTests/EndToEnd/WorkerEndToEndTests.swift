import AMQP
import CallTree
import EscalatorProcessFixtures
import Foundation
import IncidentStore
import IncidentStoreSQLite
import Logging
import Testing
import WireContract

/// `escalator worker` processes on the real broker and a SQLite store, driven the way upstream
/// systems and gateways drive them, checked on queues bound to what the workers publish.
@Suite("Worker end to end", .serialized, .enabled(if: EndToEnd.isAvailable, EndToEnd.unavailableReason))
struct WorkerEndToEndTests {
    static func pages(_ messages: [WatchedMessage], incident: String? = nil, department: String? = nil) -> [WatchedMessage] {
        messages.filter {
            $0.isPage && (incident == nil || $0.incidentID == incident) && (department == nil || $0.department == department)
        }
    }

    @Test func aTriggerIsPagedEscalatedAcknowledgedAndResolvedOnTheWire() async throws {
        let scenario = try await Scenario("lifecycle")
        let worker = try scenario.startWorker()
        try await scenario.trigger(key: "kc-fire", severity: 1, affected: 2)

        // Both engaged departments are paged at once, with everything the contract promises.
        // Pages and notices travel through different queues: either may be seen first.
        let first = try await scenario.watcher.wait(for: "first pages and initial notices") {
            Self.pages($0).count >= 2 && $0.filter(\.isNotice).count >= 2
        }
        let firstPages = Self.pages(first)
        #expect(Set(firstPages.compactMap(\.department)) == ["operations", "customer-service"])
        for page in firstPages {
            #expect(page.messageID == page.string("page_id") && page.correlationID == page.string("page_id"))
            #expect(page.replyTo == scenario.names.repliesQueue)
            #expect(page.string("incident_key") == "kc-fire" && page.int("severity") == 1)
            #expect(page.position == StepPosition(round: 1, step: 1))
            #expect(EndToEnd.signer.isValid(page.string("token")!, page: page.string("page_id")!, contact: page.contactID!))
            #expect(RFC3339.parse(page.string("ack_deadline") ?? "") != nil)
            #expect(!(page.string("text") ?? "").isEmpty)
        }
        #expect(first.filter(\.isNotice).map(\.routingKey) == ["notice.initial", "notice.initial"])
        let incident = try #require(firstPages.first?.incidentID)

        // Nobody answers operations in 2 s: its second step is paged.
        let second = try await scenario.watcher.wait(for: "operations step 2") {
            Self.pages($0, department: "operations").contains { $0.position == StepPosition(round: 1, step: 2) }
        }
        let stepTwo = try #require(Self.pages(second, department: "operations").first { $0.position == StepPosition(round: 1, step: 2) })
        #expect(stepTwo.contactID == "op-2")

        // op-2 acknowledges by reply: operations stops, and the status says who and when.
        try await scenario.reply(to: stepTwo)
        let acknowledged = try await scenario.watcher.wait(for: "operations acknowledged") { messages in
            messages.contains { message in
                message.isStatus && (message.json["departments"] as? [[String: any Sendable]])?.contains {
                    $0["department"] as? String == "operations" && $0["state"] as? String == "acknowledged"
                } == true
            }
        }
        let status = try #require(acknowledged.last { $0.isStatus && ($0.string("reason") ?? "").contains("acknowledged") })
        #expect(status.string("reason") == "operations: acknowledged by op-2")
        #expect(status.routingKey.hasPrefix("status.warehouse-fire."))
        let operations = (status.json["departments"] as? [[String: any Sendable]])?.first { $0["department"] as? String == "operations" }
        #expect(operations?["acknowledged_by"] as? String == "op-2")
        #expect(RFC3339.parse(operations?["acknowledged_at"] as? String ?? "") != nil)

        // Resolve: resolved and compensation notices for both parcels, and a final status.
        try await Task.sleep(for: .seconds(3))
        try await scenario.resolve(key: "kc-fire")
        let resolved = try await scenario.watcher.wait(for: "resolved") { messages in
            messages.contains { $0.isStatus && $0.string("state") == "resolved" }
        }
        try await Task.sleep(for: .milliseconds(500))
        let all = scenario.watcher.messages
        #expect(all.filter { $0.routingKey == "notice.resolved" }.count == 2)
        #expect(all.filter { $0.routingKey == "notice.compensation" }.count == 2)
        #expect(resolved.last { $0.isStatus }?.string("state") == "resolved")
        // Nothing of operations after step 2; status sequence numbers increase by one.
        #expect(Self.pages(all, department: "operations").allSatisfy { $0.position! <= StepPosition(round: 1, step: 2) })
        let sequences = all.filter(\.isStatus).compactMap { $0.int("seq") }
        #expect(sequences == Array(1...sequences.count))

        #expect(await worker.terminate() == 0)
        let store = try SQLiteIncidentStore(configuration: .init(path: scenario.storePath), logger: EndToEnd.logger)
        let timeline = try await store.timeline(of: IncidentID(incident))
        #expect(timeline.contains { $0.item.kind == .acknowledged && $0.item.contact == "op-2" && $0.item.department == "operations" })
        await scenario.close()
    }

    @Test func theSameEventTwiceOpensOneIncidentWithOneSetOfPages() async throws {
        let scenario = try await Scenario("duplicates")
        let worker = try scenario.startWorker()
        let eventID = try await scenario.trigger(key: "dup", severity: 2)
        try await scenario.trigger(key: "dup", severity: 2, eventID: eventID)
        try await scenario.watcher.wait(for: "the first page") { !Self.pages($0).isEmpty }
        try await Task.sleep(for: .seconds(1))

        let pages = Self.pages(scenario.watcher.messages).filter { $0.position == StepPosition(round: 1, step: 1) }
        #expect(pages.count == 1)
        #expect(Set(scenario.watcher.messages.filter(\.isStatus).compactMap(\.incidentID)).count == 1)
        #expect(await worker.terminate() == 0)
        await scenario.close()
    }

    @Test func untrustedRepliesAreRefusedRecordedAndEscalationGoesOn() async throws {
        let scenario = try await Scenario("untrusted")
        let worker = try scenario.startWorker()
        try await scenario.trigger(key: "forged", severity: 3)
        let page = try #require(Self.pages(try await scenario.watcher.wait(for: "a page") { !Self.pages($0).isEmpty }).first)

        try await scenario.reply(to: page, token: EndToEnd.signer.token(page: page.string("page_id")!, contact: "op-2"), replyID: "forged")
        try await scenario.reply(to: page, contact: "op-2", token: EndToEnd.signer.token(page: page.string("page_id")!, contact: "op-2"), replyID: "wrong-contact")
        let unknown = PageID(incident: "inc-unknown", department: "operations", position: StepPosition(round: 1, step: 1), contact: "op-1")
        try await scenario.reply(
            raw: WireJSON.encode(
                ReplyBody(
                    replyID: "unknown-page", pageID: unknown.description, contactID: "op-1",
                    token: EndToEnd.signer.token(page: unknown.description, contact: "op-1"), action: .ack,
                    sentAt: RFC3339.format(.init(Date())))),
            correlationID: unknown.description)

        // Escalation goes on as if nobody had answered.
        try await scenario.watcher.wait(for: "step 2 after the refused replies") {
            Self.pages($0).contains { $0.position == StepPosition(round: 1, step: 2) }
        }
        let dead = try await scenario.watcher.wait(for: "the unknown page dead-lettered") { messages in
            messages.contains { $0.exchange == scenario.names.deadLetterExchange }
        }.filter { $0.exchange == scenario.names.deadLetterExchange }
        #expect(dead.first?.headers["x-escalator-error"]?.contains("no incident is known") == true)

        #expect(await worker.terminate() == 0)
        let store = try SQLiteIncidentStore(configuration: .init(path: scenario.storePath), logger: EndToEnd.logger)
        let refused = try await store.timeline(of: IncidentID(page.incidentID!)).filter { $0.item.kind == .replyRefused }
        #expect(refused.count == 2)
        #expect(refused.contains { $0.item.summary.contains("token does not match") })
        #expect(refused.contains { $0.item.summary.contains("reply from contact op-2 to a page sent to op-1") })
        await scenario.close()
    }

    @Test func invalidInputIsDeadLetteredWithItsReasonAndTheWorkerGoesOn() async throws {
        let scenario = try await Scenario("invalid")
        let worker = try scenario.startWorker()
        let valid = IncidentEventBody(
            eventID: "e", action: .trigger, incidentKey: "k", type: "warehouse-fire", severity: 2, title: "t",
            occurredAt: "2026-11-29T08:00:00Z")
        var wrongSchema = valid
        wrongSchema.schema = "incident.v0"
        var unknownType = valid
        unknownType.eventID = "e2"
        unknownType.type = "alien-landing"
        let oversized = Array("{\"schema\":\"incident.v1\",\"details\":\"\(String(repeating: "x", count: 1 << 20))\"}".utf8)

        try await scenario.publish(raw: Array("{not json".utf8), routingKey: "incident.warehouse-fire")
        try await scenario.publish(raw: WireJSON.encode(wrongSchema), routingKey: "incident.warehouse-fire")
        try await scenario.trigger(key: "good-1")
        try await scenario.publish(raw: oversized, routingKey: "incident.warehouse-fire")
        try await scenario.publish(raw: WireJSON.encode(unknownType), routingKey: "incident.alien-landing")
        try await scenario.trigger(key: "good-2")

        let messages = try await scenario.watcher.wait(for: "four dead letters and two incidents paged") { messages in
            // Counted by message id: a dead letter may be delivered twice (at least once), never lost.
            Set(messages.filter { $0.exchange == scenario.names.deadLetterExchange }.compactMap(\.messageID)).count == 4
                && Set(Self.pages(messages).compactMap { $0.string("incident_key") }) == ["good-1", "good-2"]
        }
        let reasons = messages.filter { $0.exchange == scenario.names.deadLetterExchange }.compactMap { $0.headers["x-escalator-error"] }
        #expect(reasons.contains { $0.hasPrefix("the body is not valid UTF-8 JSON") })
        #expect(reasons.contains { $0 == "field 'schema' must be \"incident.v1\", found incident.v0" })
        #expect(reasons.contains { $0.hasPrefix("incident.v1 message is 1048613 bytes; the limit is 1048576 bytes") })
        #expect(reasons.contains { $0.hasPrefix("field 'type' names \"alien-landing\", which the plan does not define") })
        #expect(worker.isRunning)
        #expect(await worker.terminate() == 0)
        await scenario.close()
    }

    @Test func aDrillIsMarkedEverywhereAndItsNoticesTravelOnlyUnderDrill() async throws {
        let scenario = try await Scenario("drill")
        let worker = try scenario.startWorker()
        try await scenario.trigger(key: "drill-fire", severity: 1, affected: 3, drill: true)
        let messages = try await scenario.watcher.wait(for: "drill pages and notices") { messages in
            Self.pages(messages).count >= 2 && messages.filter(\.isNotice).count == 3
        }
        #expect(Self.pages(messages).allSatisfy { $0.json["drill"] as? Bool == true })
        #expect(messages.filter(\.isStatus).allSatisfy { $0.json["drill"] as? Bool == true })
        #expect(messages.filter(\.isNotice).allSatisfy { $0.routingKey.hasPrefix("drill.notice.") && $0.json["drill"] as? Bool == true })
        #expect(await worker.terminate() == 0)
        await scenario.close()
    }

    @Test func sigtermFinishesInFlightWorkDrainsTheOutboxAndExitsZero() async throws {
        let scenario = try await Scenario("sigterm")
        let worker = try scenario.startWorker()
        for number in 1...20 {
            try await scenario.trigger(key: "term-\(number)", severity: 2)
        }
        try await scenario.watcher.wait(for: "the first page") { !Self.pages($0).isEmpty }
        let started = ContinuousClock.now
        let status = await worker.terminate(timeout: .seconds(12))
        #expect(status == 0, "worker output:\n\(worker.output)")
        #expect(ContinuousClock.now - started < .seconds(10))
        // Everything the worker committed before stopping was published: every incident it
        // opened has its status update and its page.
        let store = try SQLiteIncidentStore(configuration: .init(path: scenario.storePath), logger: EndToEnd.logger)
        #expect(try await store.unpublishedOutbox(limit: 100).isEmpty)
        await scenario.close()
    }
}

