import CallTree
import EscalatorProcessFixtures
import Foundation
import IncidentStore
import IncidentStoreFixtures
import IncidentStoreSQLite
import Logging
import Testing

@Suite("SQLite incident store")
struct SQLiteIncidentStoreTests {
    let logger = Logger(label: "test.sqlite-store")
    let worker = FixtureWorker()
    let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)

    /// A store on a new file in a folder of its own (remove it when done), and the file's path.
    func storeOnNewFile() throws -> (store: SQLiteIncidentStore, path: String, folder: TemporaryFolder) {
        let folder = try TemporaryFolder()
        let path = folder.path + "/escalator.sqlite"
        return (try SQLiteIncidentStore(configuration: SQLiteIncidentStoreConfiguration(path: path), logger: logger), path, folder)
    }

    @Test("Opening a store creates its folder, in WAL mode with full sync and a busy timeout")
    func openCreatesFolderInWALMode() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/data/nested/escalator.sqlite"
        _ = try SQLiteIncidentStore(configuration: SQLiteIncidentStoreConfiguration(path: path), logger: logger)
        #expect(FileManager.default.fileExists(atPath: path))
        let mode = try await sqlite3(path, "PRAGMA journal_mode;")
        #expect(mode == "wal")
        #expect(SQLiteIncidentStoreConfiguration().busyTimeout >= .seconds(1))
        #expect(SQLiteIncidentStoreConfiguration().durability == .full)
        #expect(SQLiteIncidentStoreConfiguration.defaultPath(dataFolder: "/var/lib/escalator") == "/var/lib/escalator/escalator.sqlite")
    }

    /// A copy of the database file without its log (a backup taken carelessly, say) is not far
    /// behind, and the log does not grow for as long as the store writes: the log is copied into
    /// the file beside the writer as commits come.
    @Test("The database file itself catches up with what was committed")
    func theLogIsCopiedIntoTheDatabaseFile() async throws {
        // The default interval: the last commits, which come sooner than it after the previous
        // checkpoint, are copied once it has passed, with no commit after them.
        let (store, path, folder) = try storeOnNewFile()
        defer { folder.remove() }
        for batch in 0..<40 {
            _ = try await store.apply(batch: (0..<5).map { index in
                let n = batch * 5 + index
                return worker.trigger(messageID: "incident:e\(n)", key: "fire-\(n)", incident: IncidentID("inc-\(n)"), at: t0)
            })
        }
        let copy = folder.path + "/copy.sqlite"
        var counted = ""
        for _ in 0..<250 where counted != "200" {
            try? FileManager.default.removeItem(atPath: copy)
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            counted = (try? await sqlite3(copy, "SELECT count(*) FROM incident;")) ?? ""
            if counted != "200" { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(counted == "200", "the database file without its log holds \(counted) of 200 incidents")
    }

    @Test("The rows a store commits are handed to its relay as a read would give them: once, none of an undone message")
    func committedRowsForTheRelay() async throws {
        let (store, _, folder) = try storeOnNewFile()
        defer { folder.remove() }
        // The second message writes its rows and then fails: the batch goes again with savepoints.
        var crashing = worker.trigger(messageID: "incident:e2", key: "fire-2", incident: "inc-2", at: t0)
        crashing.beforeCommit = { throw SimulatedCrash() }
        _ = try await store.apply(batch: [
            worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0), crashing,
            worker.trigger(messageID: "incident:e3", key: "fire-3", incident: "inc-3", at: t0),
        ])
        let read = try await store.unpublishedOutbox(limit: 100)
        #expect(read.count >= 4 && read.allSatisfy { $0.incident != "inc-2" })
        #expect(summary(store.writtenOutbox(after: 0, limit: 2)) == summary(Array(read.prefix(2))))
        #expect(summary(store.writtenOutbox(after: read[1].sequence, limit: 100)) == summary(Array(read.dropFirst(2))))
        // Handed over once: a relay starting again reads them.
        #expect(store.writtenOutbox(after: 0, limit: 100) == nil)
    }

    @Test("A message already in the outbox costs a sequence number, and the rows after it are still handed over")
    func duplicateOutboxMessageKeepsTheHandOver() async throws {
        let (store, _, folder) = try storeOnNewFile()
        defer { folder.remove() }
        _ = try await store.apply(worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0))
        let first = try await store.unpublishedOutbox(limit: 100)
        #expect(store.writtenOutbox(after: 0, limit: 100)?.count == first.count)
        // A message whose id is in the outbox already (a notice sent before, say): its insert
        // does nothing but takes a sequence number, at the end of its transaction.
        let again = try #require(first.last?.message)
        _ = try await store.apply(
            ApplyRequest(messageID: "test:again", lookup: .id("inc-1"), at: t0) { _ in IncidentChanges(outbox: [again]) })
        _ = try await store.apply(worker.trigger(messageID: "incident:e2", key: "fire-2", incident: "inc-2", at: t0))
        // The relay reads past the gap, then is handed the next writes' rows again.
        let second = try await store.unpublishedOutbox(after: try #require(first.last).sequence, limit: 100, othersWrittenBefore: .distantFuture)
        #expect(store.writtenOutbox(after: try #require(first.last).sequence, limit: 100) == nil)
        _ = try await store.apply(worker.trigger(messageID: "incident:e3", key: "fire-3", incident: "inc-3", at: t0))
        let third = try await store.unpublishedOutbox(after: try #require(second.last).sequence, limit: 100, othersWrittenBefore: .distantFuture)
        #expect(!third.isEmpty)
        #expect(summary(store.writtenOutbox(after: try #require(second.last).sequence, limit: 100)) == summary(third))
    }

    @Test(
        "Once another writer shares the file, a store hands over nothing more from its next write on, even rows it wrote before",
        arguments: ["apply", "mark"])
    func anotherWriterEndsTheHandOver(nextWrite: String) async throws {
        let (store, path, folder) = try storeOnNewFile()
        defer { folder.remove() }
        _ = try await store.apply(worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0))
        let first = try await store.unpublishedOutbox(limit: 100)
        // Not taken yet when another process writes: that one may take the incident over.
        let other = try SQLiteIncidentStore(configuration: SQLiteIncidentStoreConfiguration(path: path), logger: logger)
        _ = try await other.apply(worker.trigger(messageID: "incident:e2", key: "fire-2", incident: "inc-2", at: t0))
        if nextWrite == "apply" {
            _ = try await store.apply(worker.trigger(messageID: "incident:e3", key: "fire-3", incident: "inc-3", at: t0))
        } else {
            try await store.markPublished([try #require(first.last).sequence], at: t0)
        }
        #expect(store.writtenOutbox(after: 0, limit: 100) == nil)
        let all = try await store.unpublishedOutbox(limit: 100)
        if nextWrite == "apply" {
            let third = try #require(all.first(where: { $0.incident == "inc-3" }))
            #expect(store.writtenOutbox(after: third.sequence - 1, limit: 100) == nil)
        }
    }

    func summary(_ rows: [OutboxRecord]?) -> [String]? {
        rows?.map { "\($0.sequence) \($0.incident?.rawValue ?? "-") \($0.message.messageID) \($0.message.routingKey)" }
    }

    @Test("A store that cannot be opened says which file and what to do")
    func unopenableStoreNamesTheFile() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let notAFolder = folder.path + "/file"
        _ = FileManager.default.createFile(atPath: notAFolder, contents: Data("x".utf8))
        let error = #expect(throws: IncidentStoreError.self) {
            _ = try SQLiteIncidentStore(
                configuration: SQLiteIncidentStoreConfiguration(path: notAFolder + "/escalator.sqlite"), logger: logger)
        }
        #expect(error?.code == .cannotOpen)
        #expect(error?.message.contains(notAFolder) == true)

        let garbage = folder.path + "/garbage.sqlite"
        _ = FileManager.default.createFile(atPath: garbage, contents: Data(repeating: 7, count: 8192))
        let corrupt = #expect(throws: IncidentStoreError.self) {
            _ = try SQLiteIncidentStore(configuration: SQLiteIncidentStoreConfiguration(path: garbage), logger: logger)
        }
        #expect(corrupt?.message.contains(garbage) == true)
    }

    @Test("Reopening a store keeps everything and migrates nothing twice")
    func reopenKeepsData() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let configuration = SQLiteIncidentStoreConfiguration(path: folder.path + "/s.sqlite")
        let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)
        do {
            let store = try SQLiteIncidentStore(configuration: configuration, logger: logger)
            _ = try await store.apply(FixtureWorker().trigger(messageID: "incident:e1", key: "k", incident: "inc-1", at: t0))
        }
        let store = try SQLiteIncidentStore(configuration: configuration, logger: logger)
        #expect(try await store.incident(.key("k"))?.id == "inc-1")
        #expect(try await store.nextDueAt() == t0 + FixturePlan.stepTimeout)
    }

    /// `Fixtures/store-schema-v4.sql`: a file written before schema v5 (`store-stress PATH 7 12 3`:
    /// three incidents, eight timeline rows each), then, by hand, the outbox's first row marked
    /// published, its last two published and pruned, and the due time of `inc-key-1` claimed.
    @Test("A store written before schema v5 keeps its incidents, due times, timelines and messages, and goes on from them")
    func storeWrittenBeforeSchemaV5() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/v4.sqlite"
        let dump = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/store-schema-v4.sql")
        _ = try await sqlite3(path, ".read \(dump.path)")
        #expect(try await sqlite3(path, "SELECT count(*) FROM grdb_migrations;") == "4")
        let store = try SQLiteIncidentStore(configuration: SQLiteIncidentStoreConfiguration(path: path), logger: logger)

        for key in ["key-0", "key-1", "key-2"] {
            let incident = try #require(try await store.incident(.key(key)))
            #expect(incident.id == IncidentID("inc-\(key)"))
            #expect(incident.version == 4)
            #expect(try await store.incident(.id(incident.id))?.version == 4)
            #expect(try await store.timeline(of: incident.id).count == 8)
            #expect(try await store.dueTimes(of: incident.id).map(\.id.description) == ["step:operations:1:1"])
        }
        #expect(try await store.dueTimes(of: "inc-key-1").first?.claimedUntil == Timestamp(millisecondsSinceEpoch: 1_800_000_400_000))
        let unpublished = try await store.unpublishedOutbox(limit: 100)
        #expect(unpublished.map(\.sequence) == [2, 3, 4])
        #expect(unpublished.map(\.message.messageID) == ["status:inc-key-1:1", "page:inc-key-2:operations:1:1:lee", "status:inc-key-2:1"])

        // The unclaimed due times fire as before; the claimed one waits for its lease.
        let now = Timestamp(millisecondsSinceEpoch: 1_800_000_311_000)
        let claims = try await store.claimDueTimes(now: now, lease: .seconds(30), limit: 10)
        #expect(claims.map(\.incident.rawValue).sorted() == ["inc-key-0", "inc-key-2"])
        for claim in claims {
            #expect(try await store.apply(worker.due(claim, at: now)).applied?.version == 5)
            #expect(try await store.dueTimes(of: claim.incident).map(\.id.description) != ["step:operations:1:1"])
        }
        // Their messages are numbered after every row the old outbox gave a number, pruned ones too.
        let fired = try await store.unpublishedOutbox(after: 4, limit: 100, othersWrittenBefore: .distantFuture)
        #expect(!fired.isEmpty)
        #expect(fired.allSatisfy { $0.sequence > 6 })
        // A message the old outbox holds is still recognised when written again.
        let again = try #require(unpublished.first?.message)
        let duplicate = try await store.apply(
            ApplyRequest(messageID: "test:again", lookup: .id("inc-key-1"), at: now) { _ in IncidentChanges(outbox: [again]) })
        #expect(duplicate.applied?.outboxDuplicates == 1)
    }

    @Test("Preparing a batch works out each transition on what is committed and skips what was processed")
    func prepareReadsWhatIsCommitted() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try SQLiteIncidentStore(
            configuration: SQLiteIncidentStoreConfiguration(path: folder.path + "/s.sqlite"), logger: logger)
        let worker = FixtureWorker()
        let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)
        let trigger = worker.trigger(messageID: "incident:e1", key: "k", incident: "inc-1", at: t0)
        let prepared = try await store.prepare([trigger])
        #expect(prepared[0].prepared != nil)
        #expect(prepared[0].prepared?.basis == nil)
        #expect(try await store.apply(prepared[0]).applied?.opened == true)

        let claim = try #require(try await store.claimDueTimes(now: t0 + FixturePlan.stepTimeout, lease: .seconds(30), limit: 1).first)
        let timeout = try await store.prepare([worker.due(claim, at: claim.at), trigger])
        #expect(timeout[0].prepared?.basis == PreparedTransition.Basis(incident: "inc-1", version: 1))
        #expect(timeout[1].prepared == nil)
        #expect(try await store.apply(timeout[0]).applied?.version == 2)
        #expect(try await store.timeline(of: "inc-1").contains { $0.item.kind == .stepTimedOut })
    }

    @Test("Two store instances on one file lose no update")
    func twoInstancesOnOneFile() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let configuration = SQLiteIncidentStoreConfiguration(path: folder.path + "/s.sqlite")
        let a = try SQLiteIncidentStore(configuration: configuration, logger: logger)
        let b = try SQLiteIncidentStore(configuration: configuration, logger: logger)
        let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)
        _ = try await a.apply(FixtureWorker().trigger(messageID: "incident:e0", key: "k", incident: "inc-1", at: t0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<40 {
                let store = n.isMultiple(of: 2) ? a : b
                group.addTask { _ = try await store.applyRetryingConflicts(IncidentStoreConformanceTests.bump(n, at: t0)) }
            }
            try await group.waitForAll()
        }
        #expect(try await b.incident(.id("inc-1"))?.version == 41)
        #expect(try await a.timeline(of: "inc-1").filter { $0.item.kind == "bump" }.count == 40)
    }

    /// Two `store-stress` processes send the same 1500 events in different orders and batch
    /// sizes to one new file. The helper is built with the package (`swift build`); the test
    /// finds it next to the test bundle, or at `$STORE_STRESS`.
    @Test("Two processes applying the same events to one file lose none and double none")
    func twoProcessesOnOneFile() async throws {
        let helper = try #require(Self.storeStressExecutable(), "build the helper first: swift build --product store-stress")
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/shared.sqlite"
        let events = 1500
        let keys = 7

        async let first = ChildProcess.run(helper, [path, "1", "\(events)", "\(keys)"])
        async let second = ChildProcess.run(helper, [path, "2", "\(events)", "\(keys)"])
        let outputs = try await [first, second]
        for output in outputs { #expect(output.status == 0, "store-stress failed: \(output.output)") }
        let counts = outputs.map(Self.counts)
        #expect(counts.map { $0["applied", default: 0] }.reduce(0, +) == events)
        #expect(counts.map { $0["duplicates", default: 0] }.reduce(0, +) == events)

        let store = try SQLiteIncidentStore(configuration: SQLiteIncidentStoreConfiguration(path: path), logger: logger)
        for k in 0..<keys {
            let expected = Set(stride(from: k, to: events, by: keys).map { "incident:evt-\($0)" })
            let incident = try #require(try await store.incident(.key("key-\(k)")))
            let counted = try await store.timeline(of: incident.id).filter { $0.item.kind == "counted" }
            #expect(counted.count == expected.count)
            #expect(Set(counted.compactMap(\.item.reference)) == expected)
            // Opened by one event (status sequence 1), then one more per event.
            #expect(incident.state.statusSequence == expected.count)
        }
        #expect(try await store.openIncidents().count == keys)
    }

    static func storeStressExecutable() -> String? {
        if let path = ProcessInfo.processInfo.environment["STORE_STRESS"] { return path }
        let fileManager = FileManager.default
        // The test bundle runs from the build products folder (.build/<triple>/debug).
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let candidates = [
            products.appendingPathComponent("store-stress").path,
            packageRoot.appendingPathComponent(".build/debug/store-stress").path,
        ]
        return candidates.first { fileManager.isExecutableFile(atPath: $0) }
    }

    /// `applied=3 duplicates=4` → ["applied": 3, "duplicates": 4].
    static func counts(_ output: ChildProcess.Exit) -> [String: Int] {
        var counts: [String: Int] = [:]
        for field in output.output.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = field.split(separator: "=")
            if parts.count == 2, let value = Int(parts[1]) { counts[String(parts[0])] = value }
        }
        return counts
    }
}

/// Runs the sqlite3 shell on a file and returns what it printed, trimmed.
func sqlite3(_ path: String, _ sql: String) async throws -> String {
    try await ChildProcess.output("/usr/bin/sqlite3", [path, sql], timeout: .seconds(60))
        .trimmingCharacters(in: .whitespacesAndNewlines)
}
