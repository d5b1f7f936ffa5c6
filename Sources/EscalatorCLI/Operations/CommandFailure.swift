/// Why an operator command could not do its job, worded for the person who ran it: what went
/// wrong and what to change. The command prints `message` and exits with `exitCode`.
public struct CommandFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    /// 1: the operation failed (broker, store); 2: the input or the settings are unusable.
    public var exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    /// Input or settings a person must fix before trying again.
    public static func invalidInput(_ message: String) -> CommandFailure {
        CommandFailure(message, exitCode: 2)
    }

    public var description: String { message }
}
