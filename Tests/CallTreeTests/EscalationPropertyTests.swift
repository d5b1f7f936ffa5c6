import CallTree
import Foundation
import PropertyBased
import Testing

@Suite("Escalation invariants over random plans and events")
struct EscalationPropertyTests {
    /// Runs a scenario and returns every action with the time of the event that produced it.
    static func run(_ scenario: RandomScenario) -> [(Action, Timestamp)] {
        var machine = IncidentStateMachine(plan: scenario.plan)
        return scenario.events.flatMap { event, now in machine.handle(event, at: now).map { ($0, now) } }
    }

    @Test func noDepartmentIsPagedAfterItsAcknowledgement() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var acknowledged = Set<DepartmentID>()
            for (action, _) in Self.run(RandomScenario(seed: seed)) {
                switch action {
                case .record(let entry):
                    if case .acknowledged(let department, _, _, _, _, _) = entry.event {
                        acknowledged.insert(department)
                    }
                case .page(let page):
                    #expect(!acknowledged.contains(page.department), "seed \(seed): \(page.id) after ack")
                default:
                    break
                }
            }
        }
    }

    @Test func noPageIDIsSentTwice() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            let ids = Self.run(RandomScenario(seed: seed)).compactMap { action, _ in
                if case .page(let page) = action { page.id } else { nil }
            }
            #expect(Set(ids).count == ids.count, "seed \(seed)")
        }
    }

    @Test func everyDeadlineIsThePageTimePlusItsStepTimeout() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            let scenario = RandomScenario(seed: seed)
            for case (.page(let page), let sentAt) in Self.run(scenario) {
                let step = scenario.plan.department(page.department)!.callOrder.steps[page.position.step - 1]
                #expect(page.ackDeadline == sentAt + step.timeout, "seed \(seed): \(page.id)")
            }
        }
    }

    @Test func statusSequenceNumbersIncreaseByOne() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            let sequences = Self.run(RandomScenario(seed: seed)).compactMap { action, _ in
                if case .publishStatus(let update) = action { update.sequence } else { nil }
            }
            #expect(sequences == Array(1..<(sequences.count + 1)), "seed \(seed)")
        }
    }

    @Test func theSameEventsReplayedGiveTheSameActions() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            let scenario = RandomScenario(seed: seed)
            let first = Self.run(scenario).map(\.0)
            let second = Self.run(scenario).map(\.0)
            #expect(first == second, "seed \(seed)")
        }
    }

    @Test func encodingTheStateBetweenEventsChangesNothing() async throws {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            let scenario = RandomScenario(seed: seed)
            let uninterrupted = Self.run(scenario).map(\.0)

            // A worker that persists and reloads the state around every event, as the store does.
            var persisted: Data?
            var actions: [Action] = []
            for (event, now) in scenario.events {
                let state = try! persisted.map { try JSONDecoder().decode(IncidentState.self, from: $0) }
                var machine = IncidentStateMachine(plan: scenario.plan, state: state)
                actions += machine.handle(event, at: now)
                persisted = try! machine.state.map { try JSONEncoder().encode($0) }
            }
            #expect(actions == uninterrupted, "seed \(seed)")
        }
    }

    @Test func theStateStaysSmall() async {
        await propertyCheck(count: 100, input: Gen.uint64()) { seed in
            let scenario = RandomScenario(seed: seed)
            var machine = IncidentStateMachine(plan: scenario.plan)
            for (event, now) in scenario.events { _ = machine.handle(event, at: now) }
            let size = (try? JSONEncoder().encode(machine.state))?.count ?? 0
            // Six departments at most: a few hundred bytes each, whatever the number of parcels.
            #expect(size < 4096, "seed \(seed): \(size) bytes")
        }
    }
}
