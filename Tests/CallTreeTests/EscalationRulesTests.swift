import CallTree
import Testing

@Suite("Escalation rules")
struct EscalationRulesTests {
    // Rule 1
    @Test func aTriggerPagesTheFirstStepOfEveryEngagedDepartmentAtOnce() {
        var driver = Driver()
        let actions = driver.send(Fixtures.trigger(.critical))

        #expect(actions.paged == ["operations/lee", "customer-service/mei", "finance/fong"])
        #expect(actions.pages.allSatisfy { $0.position == StepPosition(round: 1, step: 1) })
        #expect(
            Set(actions.scheduled.map(\.id)) == [
                .stepDeadline("operations", StepPosition(round: 1, step: 1)),
                .stepDeadline("customer-service", StepPosition(round: 1, step: 1)),
                .stepDeadline("finance", StepPosition(round: 1, step: 1)),
                .statusCadence(1),
            ])
        #expect(actions.statusUpdates.map(\.state) == [.open])
        #expect(driver.state.departments.map(\.department) == ["operations", "customer-service", "finance"])
    }

    @Test func aPageGoesToTheContactsPreferredChannelWithItsAddress() {
        var driver = Driver()
        let page = driver.send(Fixtures.trigger(.serious)).pages[0]
        #expect(page.channel == ContactChannel(.phone, "+85210000001"))
        #expect(page.reason == .engaged(.activation))
    }

    @Test func aSeverityWithNoRuleRecordsTheIncidentAndPagesNobody() {
        var driver = Driver()
        let actions = driver.send(Fixtures.trigger(.general))

        #expect(actions.pages.isEmpty)
        #expect(actions.timeline == [.opened(type: "warehouse-fire", severity: .general, drill: false)])
        #expect(actions.statusUpdates.map(\.state) == [.open])
        #expect(driver.state.departments.isEmpty)
    }

    // Rule 2
    @Test func noAckByTheDeadlineMovesToTheNextStepThenTheNextRound() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))

        let afterFirstTimeout = driver.advance(minutes: 5)
        #expect(afterFirstTimeout.paged == ["operations/wong", "operations/chan"])
        #expect(afterFirstTimeout.timeline.contains(.stepTimedOut("operations", StepPosition(round: 1, step: 1))))

        let secondRound = driver.advance(minutes: 5)
        #expect(secondRound.paged == ["operations/lee"])
        #expect(secondRound.pages[0].position == StepPosition(round: 2, step: 1))
        // Round 2 uses Lee's second channel.
        #expect(secondRound.pages[0].channel.channel == .sms)
    }

    @Test func theLastRoundExhaustsTheDepartmentAndPagesItsFallback() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.advance(minutes: 15)

        let exhausting = driver.advance(minutes: 5)
        #expect(exhausting.timeline.contains(.exhausted("operations", fallback: "command-centre")))
        #expect(exhausting.paged == ["command-centre/duty"])
        #expect(exhausting.pages[0].reason == .engaged(.fallback(from: "operations")))
        #expect(driver.state.branch("operations")?.progress == .exhausted(at: Fixtures.minutes(20)))
        #expect(exhausting.statusUpdates.last?.departments.map(\.state) == [.exhausted, .paging])
    }

    @Test func aDepartmentWithoutFallbackEndsExhaustedAndTheIncidentShowsIt() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        // operations: 4 steps of 5 min, then command-centre: 3 rounds of 5 min.
        driver.advance(minutes: 20 + 15)

        #expect(driver.state.departments.map(\.isPaging) == [false, false])
        #expect(driver.state.overallStatus == .exhausted)
        #expect(driver.due.isEmpty)
    }

    @Test func everyPageDeadlineIsThePageTimePlusTheStepTimeout() {
        var driver = Driver()
        let first = driver.send(Fixtures.trigger(.serious)).pages[0]
        #expect(first.ackDeadline == Fixtures.minutes(5))
        let second = driver.advance(minutes: 5).pages[0]
        #expect(second.ackDeadline == Fixtures.minutes(10))
    }

    // Rule 3
    @Test func anAckStopsThatDepartmentOnly() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.major))
        driver.advance(minutes: 2)

        let ack = driver.send(Fixtures.reply(.ack, Fixtures.page("operations", contact: "lee")))
        #expect(ack.cancelled == [.stepDeadline("operations", StepPosition(round: 1, step: 1))])
        #expect(ack.statusUpdates.first?.reason == .acknowledged("operations", by: "lee"))
        #expect(ack.statusUpdates.first?.departments.first?.acknowledgedBy == "lee")
        #expect(ack.statusUpdates.first?.departments.first?.acknowledgedAt == Fixtures.minutes(2))

        // Customer service goes on to exhaustion and its fallback; operations is never paged again.
        let later = driver.advance(minutes: 60)
        #expect(!later.paged.contains { $0.hasPrefix("operations/") })
        #expect(later.paged.first == "command-centre/duty")
    }

    @Test func anAckRecordsWhoByWhichChannelAndHowLongAfterTheFirstPage() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.advance(minutes: 7)
        let ack = driver.send(Fixtures.reply(.ack, Fixtures.page("operations", step: 2, contact: "chan")))

        #expect(
            ack.timeline == [
                .acknowledged(
                    "operations", by: "chan", page: Fixtures.page("operations", step: 2, contact: "chan"),
                    channel: .im, sinceFirstPage: .seconds(7 * 60), late: false)
            ])
        #expect(driver.state.overallStatus == .acknowledged)
    }

    @Test func anAckFromAnEarlierStepStillCounts() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.advance(minutes: 6)
        let ack = driver.send(Fixtures.reply(.ack, Fixtures.page("operations", contact: "lee")))
        #expect(ack.statusUpdates.map(\.state) == [.acknowledged])
        #expect(driver.advance(minutes: 60).pages.isEmpty)
    }

    @Test func aLateAckAfterExhaustionAcknowledgesTheDepartment() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.advance(minutes: 21)
        let ack = driver.send(Fixtures.reply(.ack, Fixtures.page("operations", round: 2, step: 2, contact: "wong")))
        guard case .acknowledged(_, by: "wong", _, _, _, late: true) = ack.timeline.first else {
            Issue.record("expected a late ack, got \(ack.timeline)")
            return
        }
        #expect(driver.state.branch("operations")?.progress == .acknowledged(by: "wong", at: Fixtures.minutes(21)))
        // The fallback department it brought in keeps paging until it answers itself.
        #expect(driver.state.branch("command-centre")?.isPaging == true)
    }

    @Test func aSecondAckForAnAcknowledgedDepartmentChangesNothing() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.advance(minutes: 6)
        driver.send(Fixtures.reply(.ack, Fixtures.page("operations", step: 2, contact: "wong")))
        let before = driver.state

        let again = driver.send(Fixtures.reply(.ack, Fixtures.page("operations", step: 2, contact: "chan"), id: "r-2"))
        #expect(again.pages.isEmpty && again.statusUpdates.isEmpty && again.cancelled.isEmpty)
        #expect(again.timeline == [.alsoAcknowledged("operations", by: "chan", page: Fixtures.page("operations", step: 2, contact: "chan"))])
        #expect(driver.state == before)
    }

    @Test func anAckFromSomeoneOutsideTheDepartmentIsRefusedWithAReason() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.major))
        let refused = driver.send(Fixtures.reply(.ack, Fixtures.page("operations", contact: "lee"), from: "mei"))

        #expect(refused.timeline.count == 1)
        guard case .replyRefused(_, _, "mei", .ack, let reason) = refused.timeline.first else {
            Issue.record("expected a refusal, got \(refused.timeline)")
            return
        }
        #expect(reason == .notAContactOf("operations"))
        #expect(reason.description == "the contact is not in the call order of operations")
        #expect(driver.state.branch("operations")?.isPaging == true)
    }

    @Test func anAckForAPageNeverSentIsRefused() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        let refused = driver.send(Fixtures.reply(.ack, Fixtures.page("operations", step: 2, contact: "wong")))
        guard case .replyRefused(_, _, _, _, .pageNotSent) = refused.timeline.first else {
            Issue.record("expected pageNotSent, got \(refused.timeline)")
            return
        }
        #expect(driver.state.branch("operations")?.isPaging == true)
    }

    // Rule 4
    @Test func anEscalateReplyMovesTheDepartmentToItsNextStepAtOnce() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.advance(minutes: 1)

        let escalated = driver.send(Fixtures.reply(.escalate, Fixtures.page("operations", contact: "lee")))
        #expect(escalated.paged == ["operations/wong", "operations/chan"])
        #expect(escalated.pages.allSatisfy { $0.reason == .escalatedBy("lee") && $0.ackDeadline == Fixtures.minutes(6) })
        #expect(escalated.cancelled == [.stepDeadline("operations", StepPosition(round: 1, step: 1))])
        #expect(escalated.statusUpdates.map(\.reason) == [.escalated("operations", by: "lee")])
    }

    @Test func anEscalateForAStepAlreadyPassedIsRefused() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.advance(minutes: 6)
        let refused = driver.send(Fixtures.reply(.escalate, Fixtures.page("operations", contact: "lee")))
        #expect(refused.pages.isEmpty)
        guard case .replyRefused(_, _, _, _, .stepAlreadyPassed) = refused.timeline.first else {
            Issue.record("expected stepAlreadyPassed, got \(refused.timeline)")
            return
        }
    }

    // Rule 5
    @Test func anUpstreamResolveStopsEveryDepartmentAndSendsResolvedNotices() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.critical, affected: Fixtures.parcels(3)))
        driver.advance(minutes: 3)

        let resolved = driver.send(.resolve(note: "fire out"))
        #expect(
            Set(resolved.cancelled) == [
                .stepDeadline("operations", StepPosition(round: 1, step: 1)),
                .stepDeadline("customer-service", StepPosition(round: 1, step: 1)),
                .stepDeadline("finance", StepPosition(round: 1, step: 1)),
                .statusCadence(1),
            ])
        #expect(resolved.noticeBatches.map(\.kind) == [.resolved, .compensation])
        #expect(resolved.noticeBatches.allSatisfy { $0.audience == .allAffected })
        #expect(resolved.statusUpdates.map(\.state) == [.resolved])
        #expect(driver.due.isEmpty)
        #expect(driver.advance(minutes: 120).isEmpty)
    }

    @Test func aResolveReplyFromAContactAllowedToResolveClosesTheIncident() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.advance(minutes: 21)  // operations exhausted, command centre paged

        let resolved = driver.send(Fixtures.reply(.resolve, Fixtures.page("command-centre", contact: "duty")))
        #expect(resolved.timeline.contains(.resolved(by: .contact("duty"), note: nil)))
        #expect(driver.state.isResolved)
    }

    @Test func aResolveReplyFromAContactNotAllowedIsRefused() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        let refused = driver.send(Fixtures.reply(.resolve, Fixtures.page("operations", contact: "lee")))
        guard case .replyRefused(_, _, _, .resolve, .notAllowedToResolve) = refused.timeline.first else {
            Issue.record("expected notAllowedToResolve, got \(refused.timeline)")
            return
        }
        #expect(!driver.state.isResolved)
    }

    @Test func afterResolveEveryEventIsRefusedOrIgnoredNeverActedOn() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.send(.resolve(note: nil))
        let resolvedState = driver.state

        let reply = driver.send(Fixtures.reply(.ack, Fixtures.page("operations", contact: "lee")))
        let update = driver.send(.update(Update(severity: .critical, affected: Fixtures.parcels(2))))
        let due = driver.send(.dueTimeReached(.stepDeadline("operations", StepPosition(round: 1, step: 1))))
        let again = driver.send(.resolve(note: nil))

        for actions in [reply, update, again] {
            #expect(actions.count == 1)
            #expect(actions.pages.isEmpty && actions.statusUpdates.isEmpty && actions.noticeBatches.isEmpty)
        }
        guard case .replyRefused(_, _, _, _, .incidentResolved) = reply.timeline.first else {
            Issue.record("expected incidentResolved, got \(reply.timeline)")
            return
        }
        #expect(due.isEmpty)
        #expect(driver.state == resolvedState)
    }

    // Rule 6
    @Test func raisingTheSeverityEngagesOnlyTheNewlyRequiredDepartments() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.advance(minutes: 6)  // operations at step 2

        let raised = driver.send(.update(Update(severity: .critical)))
        #expect(raised.paged == ["customer-service/mei", "finance/fong"])
        #expect(raised.pages.allSatisfy { $0.reason == .engaged(.severityRaised) })
        #expect(driver.state.branch("operations")?.progress == .paging(StepPosition(round: 1, step: 2), deadline: Fixtures.minutes(10)))
        // Severity I has a 15-minute cadence that III did not.
        #expect(raised.scheduled.contains(DueTime(id: .statusCadence(2), at: Fixtures.minutes(21))))
    }

    @Test func aTriggerForAnOpenIncidentIsAnUpdate() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        let again = driver.send(Fixtures.trigger(.major))
        #expect(again.paged == ["customer-service/mei"])
        #expect(driver.state.openedAt == Fixtures.start)
    }

    @Test func newParcelsGetInitialNoticesForJustThoseParcels() {
        var driver = Driver()
        let opened = driver.send(Fixtures.trigger(.major, affected: Fixtures.parcels(2)))
        #expect(opened.noticeBatches.map(\.audience) == [.parcels(Fixtures.parcels(2))])

        let more = driver.send(.update(Update(affected: Fixtures.parcels(3, from: 3))))
        #expect(more.noticeBatches.map(\.kind) == [.initial])
        #expect(more.noticeBatches.map(\.audience) == [.parcels(Fixtures.parcels(3, from: 3))])
        #expect(driver.state.affectedParcels == 5)
        #expect(more.pages.isEmpty)
    }

    @Test func anUpdateThatChangesNothingDoesNothing() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        #expect(driver.send(.update(Update(severity: .serious, title: "Fire at Tsuen Wan hub"))).isEmpty)
    }

    // Rule 7
    @Test func everyStateChangePublishesAStatusUpdateWithTheNextSequenceNumber() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.major))
        driver.advance(minutes: 5)
        driver.send(Fixtures.reply(.ack, Fixtures.page("operations", step: 2, contact: "wong")))
        driver.send(.resolve(note: nil))

        let updates = driver.log.statusUpdates
        #expect(updates.map(\.sequence) == Array(1...updates.count))
        #expect(updates.map(\.reason) == [.opened, .stepTimedOut("operations"), .acknowledged("operations", by: "wong"), .resolved(.upstream)])
        #expect(updates.map(\.id.description).first == "status:inc-1:1")
    }

    @Test func theCadenceSendsProgressUpdatesAndNoticesUntilResolved() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.critical, affected: Fixtures.parcels(1)))
        let firstHour = driver.advance(minutes: 60)
        let cadence = firstHour.statusUpdates.filter { $0.reason == .cadence }
        #expect(cadence.map(\.at) == [15, 30, 45, 60].map { Fixtures.minutes($0) })
        let progress = firstHour.noticeBatches.filter { $0.kind == .progress }
        #expect(progress.map(\.sequence) == [1, 2, 3, 4])
        // Each cadence's notices are new messages, not repeats of the first.
        #expect(Set(progress.map { $0.noticeID(incident: Fixtures.incident, waybill: "WB1") }).count == 4)

        driver.send(.resolve(note: nil))
        #expect(driver.advance(minutes: 60).statusUpdates.isEmpty)
    }

    @Test func aSeverityWithoutCadenceSchedulesNoProgressUpdates() {
        var driver = Driver()
        driver.send(Fixtures.trigger(.serious))
        driver.send(Fixtures.reply(.ack, Fixtures.page("operations", contact: "lee")))
        #expect(driver.advance(minutes: 600).isEmpty)
    }

    // Rule 8
    @Test(arguments: [false, true])
    func aDrillRunsTheSameTreeWithEveryActionMarked(drill: Bool) {
        var driver = Driver()
        driver.send(Fixtures.trigger(.critical, affected: Fixtures.parcels(2), drill: drill))
        driver.advance(minutes: 40)
        driver.send(.resolve(note: nil))

        #expect(driver.log.pages.allSatisfy { $0.drill == drill })
        #expect(driver.log.statusUpdates.allSatisfy { $0.drill == drill })
        #expect(driver.log.noticeBatches.allSatisfy { $0.drill == drill })

        var real = Driver()
        real.send(Fixtures.trigger(.critical, affected: Fixtures.parcels(2), drill: !drill))
        real.advance(minutes: 40)
        real.send(.resolve(note: nil))
        #expect(real.log.paged == driver.log.paged)
        #expect(real.log.pages.map(\.id) == driver.log.pages.map(\.id))
    }

    // Rule 9
    @Test func aDueTimeThatNoLongerMatchesTheStateDoesNothing() {
        var machine = IncidentStateMachine(plan: Fixtures.plan)
        _ = machine.handle(Fixtures.trigger(.serious), at: Fixtures.start)
        let step1 = DueID.stepDeadline("operations", StepPosition(round: 1, step: 1))
        _ = machine.handle(.dueTimeReached(step1), at: Fixtures.minutes(5))
        let state = machine.state

        // Fired again (a second worker's claim, say): the step has moved on.
        #expect(machine.handle(.dueTimeReached(step1), at: Fixtures.minutes(6)).isEmpty)
        // A cadence superseded by a severity change.
        #expect(machine.handle(.dueTimeReached(.statusCadence(7)), at: Fixtures.minutes(6)).isEmpty)
        // A department never engaged.
        #expect(machine.handle(.dueTimeReached(.stepDeadline("finance", StepPosition(round: 1, step: 1))), at: Fixtures.minutes(6)).isEmpty)
        #expect(machine.state == state)

        _ = machine.handle(Fixtures.reply(.ack, Fixtures.page("operations", step: 2, contact: "wong")), at: Fixtures.minutes(7))
        #expect(machine.handle(.dueTimeReached(.stepDeadline("operations", StepPosition(round: 1, step: 2))), at: Fixtures.minutes(10)).isEmpty)
    }

    // Rule 10
    @Test func idsAreDerivedFromWhatTheyIdentify() {
        var driver = Driver()
        let opened = driver.send(Fixtures.trigger(.critical, affected: Fixtures.parcels(1)))
        #expect(opened.pages[0].id.description == "page:inc-1:operations:1:1:lee")
        #expect(PageID("page:inc-1:operations:1:1:lee") == opened.pages[0].id)
        #expect(opened.statusUpdates[0].id.description == "status:inc-1:1")
        #expect(opened.noticeBatches[0].noticeID(incident: Fixtures.incident, waybill: "WB1").description == "notice:inc-1:initial:WB1")
        #expect(DueID("step:operations:1:2") == .stepDeadline("operations", StepPosition(round: 1, step: 2)))
        #expect(DueID("cadence:3") == .statusCadence(3))
    }

    @Test(arguments: ["", "page:inc-1", "page:inc-1:ops:x:1:lee", "page:inc-1:ops:0:1:lee", "notice:inc-1:ops:1:1:lee", "page::ops:1:1:lee"])
    func textThatIsNotAPageIDIsNotParsedAsOne(text: String) {
        #expect(PageID(text) == nil)
    }

    @Test func anIncidentIDWithColonsStillRoundTripsThroughAPageID() {
        let id = PageID(incident: "2026:11:29:a", department: "it", position: StepPosition(round: 2, step: 3), contact: "kim")
        #expect(PageID(id.description) == id)
    }
}
