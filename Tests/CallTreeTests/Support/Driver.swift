import CallTree

/// Drives a machine the way a worker would: keeps the due times it asks for and fires them in
/// order when told to advance, so tests read as a story on a virtual clock.
struct Driver {
    var machine: IncidentStateMachine
    var now: Timestamp
    private(set) var due: [DueID: Timestamp] = [:]
    private(set) var log: [Action] = []
    /// Every event fed, with its time, due times included: replaying them gives the same actions.
    private(set) var events: [(Event, Timestamp)] = []

    init(plan: Plan = Fixtures.plan, at start: Timestamp = Fixtures.start) {
        machine = IncidentStateMachine(plan: plan)
        now = start
    }

    var state: IncidentState { machine.state! }

    @discardableResult
    mutating func send(_ event: Event) -> [Action] {
        events.append((event, now))
        let actions = machine.handle(event, at: now)
        for action in actions {
            switch action {
            case .scheduleDue(let time): due[time.id] = time.at
            case .cancelDue(let id): due[id] = nil
            default: break
            }
        }
        log += actions
        return actions
    }

    /// Fires every due time up to `time`, earliest first, and returns what they did.
    @discardableResult
    mutating func advance(to time: Timestamp) -> [Action] {
        var actions: [Action] = []
        while let next = due.filter({ $0.value <= time }).min(by: { ($0.value, $0.key.description) < ($1.value, $1.key.description) }) {
            due[next.key] = nil
            now = next.value
            actions += send(.dueTimeReached(next.key))
        }
        now = time
        return actions
    }

    @discardableResult
    mutating func advance(minutes: Int64) -> [Action] {
        advance(to: now + .seconds(minutes * 60))
    }
}

extension Array where Element == Action {
    var pages: [Page] {
        compactMap { if case .page(let page) = $0 { page } else { nil } }
    }

    var statusUpdates: [StatusUpdate] {
        compactMap { if case .publishStatus(let update) = $0 { update } else { nil } }
    }

    var noticeBatches: [NoticeBatch] {
        compactMap { if case .sendNotices(let batch) = $0 { batch } else { nil } }
    }

    var timeline: [TimelineEvent] {
        compactMap { if case .record(let entry) = $0 { entry.event } else { nil } }
    }

    var scheduled: [DueTime] {
        compactMap { if case .scheduleDue(let due) = $0 { due } else { nil } }
    }

    var cancelled: [DueID] {
        compactMap { if case .cancelDue(let id) = $0 { id } else { nil } }
    }

    /// "department/contact" for each page, in order: the shape a person reads in a review.
    var paged: [String] {
        pages.map { "\($0.department)/\($0.contact)" }
    }
}
