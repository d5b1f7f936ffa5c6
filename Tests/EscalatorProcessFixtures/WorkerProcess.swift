import Foundation

/// `escalator worker` in a process of its own, as ops run it: for the end-to-end tests and the
/// worker benchmark. Output goes to `log`; settings come from `environment` alone.
public final class WorkerProcess: Sendable {
    private let process: Process
    public let log: URL

    public init(executable: String, environment: [String: String], log: URL) throws {
        self.log = log
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["worker", "--config", "/nonexistent/escalator.yaml"]
        process.environment = environment
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// SIGTERM, then waits; returns the exit status, or nil if it did not exit within `timeout`.
    public func terminate(timeout: Duration = .seconds(15)) async -> Int32? {
        process.terminate()
        return await waitForExit(timeout: timeout)
    }

    /// SIGKILL: the worker dies with whatever it held.
    public func kill() async {
        Foundation.kill(process.processIdentifier, SIGKILL)
        _ = await waitForExit(timeout: .seconds(10))
    }

    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}
