/// What went wrong in a store, with a message a person can act on.
public struct IncidentStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case cannotOpen, migrationFailed, databaseFailed, corruptRow, invalidChanges, internalError
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

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
