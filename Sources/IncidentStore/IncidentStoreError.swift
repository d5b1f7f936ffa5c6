/// What went wrong in a store, with a message a person can act on.
public struct IncidentStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case cannotOpen, migrationFailed, databaseFailed, corruptRow, invalidChanges, internalError
            case unavailable, invalidConfiguration
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The database file or server could not be opened.
        public static let cannotOpen = Code(.cannotOpen)
        /// The schema could not be brought up to date.
        public static let migrationFailed = Code(.migrationFailed)
        /// A query failed (busy past the timeout, disk full, connection lost).
        public static let databaseFailed = Code(.databaseFailed)
        /// A stored row could not be decoded.
        public static let corruptRow = Code(.corruptRow)
        /// A transition returned changes the store refuses (a new incident over an open one).
        public static let invalidChanges = Code(.invalidChanges)
        public static let internalError = Code(.internalError)
        /// The database server cannot be reached for now (down, restarting, network, every
        /// connection busy): the call kept nothing, or its transaction was rolled back. Transient:
        /// wait and call again; the inbox makes a repeated message harmless.
        public static let unavailable = Code(.unavailable)
        /// The store's location or settings are wrong (a malformed `ESCALATOR_STORE`): fix the
        /// configuration; retrying cannot help.
        public static let invalidConfiguration = Code(.invalidConfiguration)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// True when calling again later may succeed (`.unavailable`): the worker waits and retries
    /// instead of stopping.
    public var isTransient: Bool { code == .unavailable }
}
