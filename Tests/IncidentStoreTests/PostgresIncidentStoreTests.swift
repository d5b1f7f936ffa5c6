import CallTree
import EscalatorProcessFixtures
import Foundation
import IncidentStore
import IncidentStoreFixtures
@testable import IncidentStorePostgres
import Logging
import PostgresNIO
import Testing

/// What only the PostgreSQL store has: migrations under an advisory lock, the database's clock,
/// errors for a server that is away or refuses us, and riding out an outage. Needs the private
/// cluster scripts/test starts (`ESCALATOR_TEST_POSTGRES_URL`); skipped, visibly, without it.
@Suite("PostgreSQL store", .enabled(if: TestPostgres.url != nil, TestPostgres.skipReason))
struct PostgresIncidentStoreTests {
    let worker = FixtureWorker()
    let logger = Logger(label: "test.store")

    @Test("Stores starting together on a new schema migrate it once")
    func concurrentStartMigratesOnce() async throws {
        let configuration = try TestPostgres.configuration()
        let stores = try await withThrowingTaskGroup(of: PostgresIncidentStore.self) { group in
            for _ in 0..<4 {
                group.addTask { try await PostgresIncidentStore.connect(configuration: configuration, logger: logger) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 4)
        let store = try await TestPostgres.makeStore(configuration: configuration)
        let versions = try await store.query(
            "reading migrations", "SELECT version FROM schema_migration ORDER BY version"
        ).map { try $0.decode(Int.self) }
        #expect(versions == Schema.migrations.map(\.version))
        await TestPostgres.dropStore(store)
    }

    /// The fast way through a batch trusts this one statement's inbox answer: a message processed
    /// already would otherwise be applied again until its inbox id's unique violation undid the
    /// batch, and the conformance tests' results could not tell.
    @Test("Before a batch's first write, one statement says whether the inbox holds any of its messages and finds its incidents")
    func batchLookUpAsksTheInboxAndFindsIncidents() async throws {
        try await TestPostgres.withStore(clock: .caller) { store in
            let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)
            _ = try await store.apply(worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0))
            let logger = self.logger
            func lookUp(_ messageIDs: [String], _ lookups: [IncidentLookup]) async throws -> (Bool, [IncidentLookup: String]) {
                try await store.withConnection("looking a batch up") { connection in
                    let (inboxHoldsAny, found) = try await Writer(connection: connection, logger: logger, clock: .caller)
                        .lookUpBatch(messageIDs: messageIDs, lookups: lookups)
                    var ids: [IncidentLookup: String] = [:]
                    for (lookup, result) in found { ids[lookup] = try result.get().incident?.id.rawValue ?? "none" }
                    return (inboxHoldsAny, ids)
                }
            }
            let fresh = try await lookUp(["incident:e2"], [.id("inc-1"), .key("fire-1"), .key("fire-2")])
            #expect(fresh.0 == false)
            #expect(fresh.1 == [.id("inc-1"): "inc-1", .key("fire-1"): "inc-1", .key("fire-2"): "none"])
            #expect(try await lookUp(["incident:e2", "incident:e1"], [.key("fire-2")]).0 == true)
            #expect(try await lookUp(["incident:e1"], []).0 == true)
            #expect(try await lookUp([], [.id("inc-1")]).0 == false)
        }
    }

    @Test("An incident whose stored state cannot be read fails its own message in a batch, with the fix named, and no other")
    func unreadableIncidentFailsItsMessageAlone() async throws {
        try await TestPostgres.withStore(clock: .caller) { store in
            let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)
            _ = try await store.apply(worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0))
            try await store.query("corrupting a row", "UPDATE incident SET state = '\\x7b'::bytea WHERE id = 'inc-1'")
            let results = try await store.apply(batch: [
                worker.resolve(messageID: "incident:e2", key: "fire-1", at: t0 + .seconds(60)),
                worker.trigger(messageID: "incident:e3", key: "fire-2", incident: "inc-2", at: t0 + .seconds(61)),
            ])
            #expect(throws: IncidentStoreError.self) { try results[0].get() }
            if case .failure(let error as IncidentStoreError) = results[0] {
                #expect(error.code == .corruptRow)
                #expect(error.message.contains("inc-1") && error.message.contains("migrate the store"))
            }
            #expect(try results[1].get().applied?.opened == true)
            #expect(try await store.incident(.id("inc-2"))?.key == "fire-2")
        }
    }

    @Test("On the database's clock, workers with skewed clocks agree on what is due and whose lease holds")
    func databaseClockMakesSkewHarmless() async throws {
        try await TestPostgres.withStore(clock: .database) { store in
            let dbNow = try await store.currentTime()
            let slow = dbNow + .seconds(-3600)  // a worker an hour behind the database
            let fast = dbNow + .seconds(3600)  // and one an hour ahead

            // The slow worker opens the incident: step 1 falls due one step timeout after the
            // database applied the event, not an hour early by the database's clock.
            _ = try await store.apply(worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: slow))
            let due = try #require(try await store.dueTimes(of: "inc-1").first { $0.id.description.contains("operations") })
            let expected = dbNow + FixturePlan.stepTimeout
            #expect(abs(due.at.millisecondsSinceEpoch - expected.millisecondsSinceEpoch) < 5_000)

            // Not due yet by the database's clock, whatever the fast worker's clock says.
            #expect(try await store.claimDueTimes(now: fast, lease: .seconds(30), limit: 10).isEmpty)

            // A due time that has come is claimed even by the slow worker, and its lease is on
            // the database's clock: the fast worker cannot take it over early.
            let past = ApplyRequest(messageID: "test:past", lookup: .id("inc-1"), at: slow) { _ in
                IncidentChanges(schedule: [DueSchedule(.statusCadence(1), at: slow + .seconds(-1))])
            }
            _ = try await store.apply(past)
            let claims = try await store.claimDueTimes(now: slow, lease: .seconds(2), limit: 10)
            let claim = try #require(claims.first)
            #expect(claims.count == 1)
            #expect(claim.id == .statusCadence(1))
            #expect(abs(claim.leaseUntil.millisecondsSinceEpoch - (dbNow + .seconds(2)).millisecondsSinceEpoch) < 5_000)
            #expect(try await store.claimDueTimes(now: fast, lease: .seconds(30), limit: 10).isEmpty)

            // Once the lease lapses by the database's clock, the slow worker claims it again.
            try await Task.sleep(for: .milliseconds(2_300))
            let again = try await store.claimDueTimes(now: slow, lease: .seconds(30), limit: 10)
            #expect(again.map(\.id) == [.statusCadence(1)])
            #expect(again.first?.token != claim.token)
        }
    }

    @Test("Workers whose batches lock two incidents in opposite orders both finish: a deadlock is a conflict")
    func deadlockIsAConflict() async throws {
        let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)
        try await TestPostgres.withStore { store in
            _ = try await store.apply(batch: [
                worker.trigger(messageID: "incident:a", key: "fire-a", incident: "inc-a", at: t0),
                worker.trigger(messageID: "incident:b", key: "fire-b", incident: "inc-b", at: t0),
            ])
            /// Writes the incident's state again (version + 1); `pause` holds the transaction
            /// after the batch's first write, so both workers hold one row when they reach the other.
            func touch(_ incident: IncidentID, _ id: String, pause: Bool) -> ApplyRequest {
                ApplyRequest(messageID: id, lookup: .id(incident), at: t0) { input in
                    if pause { usleep(300_000) }
                    return IncidentChanges(state: input.incident?.state)
                }
            }
            /// Applies the batch, then its conflicts again, until every message took effect.
            func applyAll(_ batch: [ApplyRequest]) async throws {
                var pending = batch
                for _ in 0..<10 where !pending.isEmpty {
                    let results = try await store.apply(batch: pending)
                    pending = zip(pending, results).filter { (try? $1.get()) == .conflict }.map(\.0)
                }
                #expect(pending.isEmpty)
            }
            let rounds = 3
            for round in 0..<rounds {
                async let first: Void = applyAll([
                    touch("inc-a", "test:1a\(round)", pause: false), touch("inc-b", "test:1b\(round)", pause: true),
                ])
                async let second: Void = applyAll([
                    touch("inc-b", "test:2b\(round)", pause: false), touch("inc-a", "test:2a\(round)", pause: true),
                ])
                _ = try await (first, second)
            }
            #expect(try await store.incident(.id("inc-a"))?.version == Int64(1 + 2 * rounds))
            #expect(try await store.incident(.id("inc-b"))?.version == Int64(1 + 2 * rounds))
        }
    }

    @Test("A connection's work continues on the thread that receives its replies, round trip after round trip")
    func workStaysOnTheConnectionsThread() async throws {
        try await TestPostgres.withStore { store in
            let onItsLoop = try await store.withConnection("checking where the work runs") { connection in
                var each: [Bool] = []
                for _ in 0..<3 {
                    _ = try await connection.query("SELECT 1", logger: Logger(label: "test.store")).collect()
                    each.append(connection.eventLoop.inEventLoop)
                }
                return each
            }
            #expect(onItsLoop == [true, true, true])
        }
    }

    @Test("A server that is not there is reported as unavailable, naming host and port")
    func unreachableServerIsUnavailable() async throws {
        var configuration = try TestPostgres.configuration()
        configuration.port = try TestPostgres.freePort()
        let error = await #expect(throws: IncidentStoreError.self) {
            _ = try await PostgresIncidentStore.connect(configuration: configuration, logger: logger)
        }
        #expect(error?.code == .unavailable)
        #expect(error?.isTransient == true)
        #expect(error?.message.contains("cannot reach PostgreSQL at 127.0.0.1:\(configuration.port)") == true)
        #expect(error?.message.contains("connection refused") == true)
    }

    @Test("A user the server does not know is refused clearly, naming user, host and database")
    func unknownUserIsRefused() async throws {
        var configuration = try TestPostgres.configuration()
        configuration.username = "nobody_here"
        let error = await #expect(throws: IncidentStoreError.self) {
            _ = try await PostgresIncidentStore.connect(configuration: configuration, logger: logger)
        }
        #expect(error?.code == .cannotOpen)
        #expect(error?.isTransient == false)
        for part in ["nobody_here", configuration.endpoint, "database \(configuration.database)", "ESCALATOR_STORE"] {
            #expect(error?.message.contains(part) == true, "\(part) in: \(error?.message ?? "")")
        }
    }

    @Test("A wrong password is refused at start-up, naming the user and where to fix it; the right one opens the store")
    func wrongPasswordIsRefused() async throws {
        // scripts/lib/postgres.sh: the one user of the test cluster who signs in with a password.
        var configuration = try TestPostgres.configuration()
        configuration.username = "escalator_password"
        configuration.password = "wrong-password"
        let error = await #expect(throws: IncidentStoreError.self) {
            _ = try await PostgresIncidentStore.connect(configuration: configuration, logger: logger)
        }
        #expect(error?.code == .cannotOpen)
        #expect(error?.isTransient == false)
        for part in ["escalator_password", "password authentication failed", "password in the store URL", "ESCALATOR_STORE"] {
            #expect(error?.message.contains(part) == true, "\(part) in: \(error?.message ?? "")")
        }
        #expect(error?.message.contains("wrong-password") == false, "the password itself is never shown")

        configuration.password = "right-password"
        try await TestPostgres.withStore(configuration: configuration) { store in
            let open = try await store.openIncidents()
            #expect(open.isEmpty)
        }
    }

    @Test("A database that does not exist is refused clearly, with how to create it")
    func missingDatabaseIsRefused() async throws {
        var configuration = try TestPostgres.configuration()
        configuration.database = "no_such_database"
        let error = await #expect(throws: IncidentStoreError.self) {
            _ = try await PostgresIncidentStore.connect(configuration: configuration, logger: logger)
        }
        #expect(error?.code == .cannotOpen)
        #expect(error?.message.contains("no database no_such_database") == true)
        #expect(error?.message.contains("createdb") == true)
    }

    @Test("A store used before it runs says so instead of hanging")
    func storeNotRunning() async throws {
        var configuration = try TestPostgres.configuration()
        // Also the connect timeout of `connect`'s own connection: 500 ms timed out on a loaded
        // machine while the other suites ran beside this one.
        configuration.connectionWait = .seconds(2)
        let store = try await PostgresIncidentStore.connect(configuration: configuration, logger: logger)
        let error = await #expect(throws: IncidentStoreError.self) { _ = try await store.openIncidents() }
        #expect(error?.code == .internalError)
        #expect(error?.message.contains("not running") == true)
        let running = try await TestPostgres.makeStore(configuration: configuration)
        await TestPostgres.dropStore(running)
    }
}

/// The outage test stops and starts a cluster of its own (the shared one serves the tests
/// running beside it): `ESCALATOR_TEST_POSTGRES_DIR` names the shared cluster's folder, and this
/// one lives beside it.
@Suite(
    "PostgreSQL store outage",
    .timeLimit(.minutes(5)),
    .enabled(if: TestPostgres.url != nil && TestPostgres.directory != nil, TestPostgres.skipReason))
struct PostgresOutageTests {
    let worker = FixtureWorker()
    let t0 = Timestamp(secondsSinceEpoch: 1_800_000_000)

    @Test(
        "The store reports the outage as transient and works again once the server is back",
        // Over TLS too, one cluster at a time: each case stops and starts its own.
        .serialized, arguments: [PostgresIncidentStoreConfiguration.TLSMode.disable, .require])
    func storeRidesOutARestart(tls: PostgresIncidentStoreConfiguration.TLSMode) async throws {
        let cluster = try PrivateCluster(
            directory: try #require(TestPostgres.directory) + (tls == .disable ? "-outage" : "-outage-tls"),
            port: try TestPostgres.freePort())
        try await cluster.whileRunning {
            var configuration = try TestPostgres.configuration()
            configuration.port = cluster.port
            configuration.tls = tls
            configuration.connectionWait = .seconds(2)
            try await TestPostgres.withStore(configuration: configuration) { store in
                let first = try await store.apply(
                    worker.trigger(messageID: "incident:e1", key: "fire-1", incident: "inc-1", at: t0))
                #expect(first.applied?.opened == true)

                await cluster.stop()
                let page = PageID(
                    incident: "inc-1", department: FixturePlan.operations, position: StepPosition(round: 1, step: 1),
                    contact: FixturePlan.lee)
                let update = worker.reply(messageID: "reply:r1", page: page, contact: FixturePlan.lee, at: t0 + .seconds(1))
                let error = await #expect(throws: IncidentStoreError.self) { _ = try await store.apply(update) }
                #expect(error?.code == .unavailable)
                #expect(error?.message.contains("cannot reach PostgreSQL at 127.0.0.1:\(cluster.port)") == true)
                #expect(error?.message.contains("connection refused") == true, "\(error?.message ?? "")")

                try await cluster.start()
                // The worker's way: wait and retry while the store says the server is away.
                var outcome: ApplyOutcome?
                let deadline = ContinuousClock.now + .seconds(60)
                while outcome == nil, ContinuousClock.now < deadline {
                    do {
                        outcome = try await store.apply(update)
                    } catch let error as IncidentStoreError where error.isTransient {
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
                #expect(outcome?.applied?.version == 2)
                #expect(try await store.apply(update) == .alreadyProcessed)
                #expect(try await store.incident(.id("inc-1"))?.version == 2)
            }
        }
    }
}

extension TestPostgres {
    /// The shared cluster's folder (`ESCALATOR_TEST_POSTGRES_DIR`, set by scripts/test).
    static let directory = ProcessInfo.processInfo.environment["ESCALATOR_TEST_POSTGRES_DIR"].flatMap {
        $0.isEmpty ? nil : $0
    }

    /// A loopback port nobody listens on now, below the range the kernel picks clients' ports
    /// from: a client connecting there while nothing listens can then never be given that same
    /// port as its own and connect to itself, then wait forever for the server's first reply.
    static func freePort() throws -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        let firstEphemeral = range?.first ?? 32768
        for _ in 0..<100 {
            let port = Int.random(in: 20000..<min(30000, firstEphemeral))
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            if bound { return port }
        }
        try #require(Bool(false), "cannot find a free loopback port between 20000 and 30000")
        return 0
    }
}

/// A PostgreSQL cluster of one test, started and stopped with scripts/lib/postgres.sh.
struct PrivateCluster: Sendable {
    let directory: String
    let port: Int
    /// Whether the server takes TLS connections.
    var tls = true

    /// The repository's root, from this file's place in it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    init(directory: String, port: Int) throws {
        self.directory = directory
        self.port = port
    }

    func start() async throws {
        try await shell((tls ? "" : "ESCALATOR_POSTGRES_SSL=off ") + "postgres_start \"$1\" \"$2\"")
    }

    func stop() async { try? await shell("postgres_stop \"$1\"") }

    /// Starts the cluster for `body` and stops it afterwards, also when starting it or `body`
    /// throws (a start that failed after pg_ctl started the server leaves it running).
    func whileRunning(_ body: () async throws -> Void) async throws {
        do {
            try await start()
            try await body()
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    /// Runs `command` with scripts/lib/postgres.sh loaded, from the repository's root. pg_ctl
    /// waits at most 60 s for the server to start or stop; the rest is quick.
    private func shell(_ command: String) async throws {
        let script = "cd \"$3\" && set -e && source scripts/lib/postgres.sh && \(command)"
        try await ChildProcess.output(
            "/bin/bash", ["-c", script, "cluster", directory, "\(port)", Self.root], timeout: .seconds(150))
    }
}
