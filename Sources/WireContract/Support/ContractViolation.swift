/// Why an incoming message does not meet the wire contract. Its `message` goes into the
/// `x-escalator-error` header of the dead-lettered copy, so the upstream team can fix the sender.
public struct ContractViolation: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String { case tooLarge, notJSON, wrongSchema, missingField, invalidField, unknownType }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Larger than the size limit.
        public static let tooLarge = Code(.tooLarge)
        /// Not UTF-8 JSON, or not a JSON object.
        public static let notJSON = Code(.notJSON)
        /// `schema` is missing or names another message.
        public static let wrongSchema = Code(.wrongSchema)
        public static let missingField = Code(.missingField)
        /// Wrong type, out of range, too long, or badly formatted.
        public static let invalidField = Code(.invalidField)
        /// An incident type the plan does not define.
        public static let unknownType = Code(.unknownType)

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
