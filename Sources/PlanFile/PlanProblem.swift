/// One thing wrong with a plan file, where it is and what to do about it. Written
/// `path:line:col: message`, the form editors and CI logs turn into links.
public struct PlanProblem: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// Counts from 1.
    public var line: Int
    /// Counts from 1, in Unicode scalars.
    public var column: Int
    /// What is wrong and what to change.
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Every problem found in one read of a plan file, in file order.
public struct PlanProblems: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [PlanProblem]

    public init(_ problems: [PlanProblem]) {
        self.problems = problems
    }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
