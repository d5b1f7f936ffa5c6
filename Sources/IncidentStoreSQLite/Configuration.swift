/// Where and how the SQLite store keeps its file.
public struct SQLiteIncidentStoreConfiguration: Sendable, Hashable {
    /// The database file; its folder is created when missing. Several worker processes on one
    /// host may share it.
    public var path: String
    /// How long a write waits for another process's write to finish before failing.
    public var busyTimeout: Duration
    /// Concurrent readers for queries in this process.
    public var maximumReaderCount: Int
    /// `.full` syncs the write-ahead log on every commit, so a committed message survives a
    /// power loss (guarantee 1: the broker ack follows the commit). `.normal` survives a process
    /// crash only, and is faster.
    public var durability: Durability
    /// How often, at most, a connection beside the writer copies the write-ahead log into the
    /// database file as commits come (`LogCheckpointer`); `.zero` after every commit.
    public var checkpointInterval: Duration

    public enum Durability: String, Sendable, Hashable {
        case full = "FULL"
        case normal = "NORMAL"
    }

    public init(
        path: String = SQLiteIncidentStoreConfiguration.defaultPath(), busyTimeout: Duration = .seconds(10),
        maximumReaderCount: Int = 4, durability: Durability = .full, checkpointInterval: Duration = .milliseconds(200)
    ) {
        self.path = path
        self.busyTimeout = busyTimeout
        self.maximumReaderCount = maximumReaderCount
        self.durability = durability
        self.checkpointInterval = checkpointInterval
    }

    /// `<dataFolder>/escalator.sqlite`; the data folder defaults to `data` under the working
    /// directory.
    public static func defaultPath(dataFolder: String = "data") -> String {
        dataFolder.hasSuffix("/") ? "\(dataFolder)escalator.sqlite" : "\(dataFolder)/escalator.sqlite"
    }
}
