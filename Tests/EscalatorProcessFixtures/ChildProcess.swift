import Foundation

/// A short-lived command a test runs and waits for (rabbitmqctl, sqlite3, the scripts that start
/// and stop a PostgreSQL cluster, a helper executable).
///
/// Tests of every suite share one process and a cooperative thread pool as wide as the machine
/// (two threads here), so waiting must never hold a pool thread: the child is polled with
/// `waitpid(WNOHANG)` between `Task.sleep`s. It inherits no descriptor but its standard ones: a
/// descriptor open elsewhere in the test process (another child's pipe) that reached a server
/// daemonised from it would keep that pipe open for the server's life and hang whoever reads it.
/// Output goes to a file rather than a pipe for the same reason. A child still running at its
/// deadline is killed with its process group and the test gets its output to see where it stood.
public enum ChildProcess {
    public struct Exit: Sendable {
        /// The command line, for messages.
        public let command: String
        /// The exit code, or 128 + the signal that ended it, as a shell reports it.
        public let status: Int32
        /// Standard output and standard error, interleaved as written.
        public let output: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `executable` with `arguments` and this process's environment, and waits for it;
    /// throws if it cannot start or outlives `timeout`.
    public static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(120)) async throws -> Exit {
        let command = ([executable] + arguments).joined(separator: " ")
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("escalator-test-child-\(UUID().uuidString).log").path
        defer { unlink(outputPath) }
        let pid = try spawn(executable, arguments, outputPath: outputPath, command: command)
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped == -1, errno != EINTR {
                throw Failure(description: "\(command): cannot wait for it (\(String(cString: strerror(errno))))")
            }
            if ContinuousClock.now >= deadline {
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) == -1, errno == EINTR {}
                throw Failure(
                    description: "\(command) did not finish within \(timeout) and was killed; it printed:\n"
                        + output(at: outputPath))
            }
            await pause()
        }
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Exit(command: command, status: exitStatus, output: output(at: outputPath))
    }

    /// Runs the command and returns its output; throws with that output unless it exits 0.
    @discardableResult
    public static func output(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(120)) async throws -> String {
        let exit = try await run(executable, arguments, timeout: timeout)
        guard exit.status == 0 else {
            throw Failure(description: "\(exit.command) exited with status \(exit.status):\n\(exit.output)")
        }
        return exit.output
    }

    private static func output(at path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// 20 ms, also in a cancelled task (a test past its time limit stopping its cluster): the
    /// child is waited for until it exits or its deadline, and a sleep that returned at once
    /// would turn the wait into a busy loop on a pool thread.
    private static func pause() async {
        await Task.detached { try? await Task.sleep(for: .milliseconds(20)) }.value
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    /// glibc has it since 2.34, but its header hides it from Swift's import: looked up by name.
    private static let addCloseFrom: AddCloseFrom? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np"
    ).map { unsafeBitCast($0, to: AddCloseFrom.self) }

    private static func spawn(_ executable: String, _ arguments: [String], outputPath: String, command: String) throws -> pid_t {
        guard let addCloseFrom else {
            throw Failure(description: "\(command): this C library lacks posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or later)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        _ = addCloseFrom(&actions, 3)
        // Its own process group, so that a timeout also stops whatever it started. No signal
        // blocked and none ignored, as from a shell: a child inherits the spawning thread's mask
        // (a pool thread blocks nearly every signal) and the signals this process ignores.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)

        var argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        guard spawned == 0 else {
            throw Failure(description: "cannot run \(command): \(String(cString: strerror(spawned)))")
        }
        return pid
    }
}
