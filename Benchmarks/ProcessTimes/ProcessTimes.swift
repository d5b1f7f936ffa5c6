import Foundation

/// CPU seconds (user + system, every thread) this process has used so far, to the nanosecond.
public func cpuSecondsOfThisProcess() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; nil when the
/// process is gone or the file cannot be read. Resolution: one clock tick (10 ms here).
public func cpuSeconds(ofProcess pid: Int32) -> Double? {
    processStat(pid)?.cpuSeconds
}

/// CPU seconds of a process and of its children now running: a PostgreSQL server's postmaster
/// and the backend serving each connection. Children that ended are not counted.
public func cpuSeconds(ofProcessAndChildren root: Int32) -> Double? {
    guard let own = cpuSeconds(ofProcess: root) else { return nil }
    let children = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Double? in
        guard let pid = Int32(entry), pid != root, let stat = processStat(pid), stat.parent == root else { return nil }
        return stat.cpuSeconds
    }
    return own + children.reduce(0, +)
}

/// A process's parent and CPU seconds, from one read of /proc/<pid>/stat.
private func processStat(_ pid: Int32) -> (parent: Int32, cpuSeconds: Double)? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return nil }
    // After the command name in parentheses: field 3 (state) first, then 4 (the parent's pid);
    // utime and stime are 14 and 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let parent = Int32(fields[1]), let user = Double(fields[11]), let system = Double(fields[12])
    else { return nil }
    return (parent, (user + system) / Double(sysconf(Int32(_SC_CLK_TCK))))
}
