import CallTree

/// Routing keys of the contract.
public enum RoutingKey {
    public static func incident(_ type: IncidentTypeID) -> String { "incident.\(type)" }

    public static func page(_ page: Page) -> String { "page.\(page.channel.channel.rawValue).\(page.department)" }

    /// Drill notices go under `drill.` so that no production binding (`notice.#`) receives them.
    public static func notice(_ kind: NoticeKind, drill: Bool) -> String {
        drill ? "drill.notice.\(kind.rawValue)" : "notice.\(kind.rawValue)"
    }

    public static func status(type: IncidentTypeID, state: IncidentStatus) -> String { "status.\(type).\(state.rawValue)" }
}

/// The header that carries the reason on a dead-lettered message.
public let errorHeader = "x-escalator-error"
