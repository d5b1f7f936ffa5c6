import Foundation
import IncidentStore
import IncidentStorePostgres
import IncidentStoreSQLite
import IncidentStoreSelection
import Logging
import Testing

@Suite("Choosing the store from ESCALATOR_STORE")
struct IncidentStoreLocationTests {
    @Test(
        "SQLite locations: a URL or a plain path",
        arguments: [
            ("sqlite:///var/lib/escalator/store.sqlite", "/var/lib/escalator/store.sqlite"),
            ("sqlite://data/store.sqlite", "data/store.sqlite"),
            ("sqlite:data/store.sqlite", "data/store.sqlite"),
            ("/var/lib/escalator/store.sqlite", "/var/lib/escalator/store.sqlite"),
            ("data/escalator.sqlite", "data/escalator.sqlite"),
            ("  store.sqlite ", "store.sqlite"),
        ])
    func sqliteLocations(value: String, path: String) throws {
        #expect(try IncidentStoreLocation(parsing: value) == .sqlite(SQLiteIncidentStoreConfiguration(path: path)))
    }

    @Test("A PostgreSQL URL gives host, port, user, password, database and options")
    func postgresURL() throws {
        let location = try IncidentStoreLocation(
            parsing: "postgres://esc%40lator:p%3Ass@db.example:6543/escalator?schema=ops&pool=20&wait=2.5&sslmode=require")
        guard case .postgres(let configuration) = location else {
            Issue.record("expected PostgreSQL, got \(location)")
            return
        }
        #expect(configuration.host == "db.example")
        #expect(configuration.port == 6543)
        #expect(configuration.username == "esc@lator")
        #expect(configuration.password == "p:ss")
        #expect(configuration.database == "escalator")
        #expect(configuration.schema == "ops")
        #expect(configuration.maximumConnections == 20)
        #expect(configuration.connectionWait == .milliseconds(2500))
        #expect(configuration.tls == .require)
        #expect(configuration.clock == .database)
        // Logs never show the password.
        #expect(!location.description.contains("p:ss") && !location.description.contains("p%3Ass"))
        #expect(location.description.contains("***"))
    }

    @Test(
        "Every sslmode that encrypts is read as psql reads it, and sslrootcert with it",
        arguments: PostgresIncidentStoreConfiguration.TLSMode.allCases.filter { $0 != .disable })
    func postgresTLSModes(mode: PostgresIncidentStoreConfiguration.TLSMode) throws {
        // Any file will do for parsing; the certificate in it is read on connecting.
        let location = try IncidentStoreLocation(
            parsing: "postgres://escalator@db.example/escalator?sslmode=\(mode.rawValue)&sslrootcert=/etc/passwd")
        guard case .postgres(let configuration) = location else {
            Issue.record("expected PostgreSQL, got \(location)")
            return
        }
        #expect(configuration.tls == mode)
        #expect(configuration.rootCertificatePath == "/etc/passwd")
        #expect(location.description.contains("sslmode=\(mode.rawValue)&sslrootcert=/etc/passwd"))
    }

    @Test("A PostgreSQL URL's defaults: port 5432, schema public, no TLS, the database's clock")
    func postgresDefaults() throws {
        let location = try IncidentStoreLocation(parsing: "postgresql://escalator@127.0.0.1/escalator")
        #expect(
            location
                == .postgres(
                    PostgresIncidentStoreConfiguration(
                        host: "127.0.0.1", port: 5432, username: "escalator", database: "escalator")))
    }

    @Test(
        "Bad values are refused with what is wrong and what to write",
        arguments: [
            ("", "is empty"),
            ("mysql://root@db/escalator", "unknown kind of store \"mysql\""),
            ("sqlite://", "names no SQLite file"),
            ("data/", "names a folder"),
            ("sqlite:///data/x.sqlite?mode=ro", "the SQLite store takes none"),
            ("postgres://127.0.0.1:5432/escalator", "names no user"),
            ("postgres://escalator@127.0.0.1:5432", "names no database"),
            ("postgres://escalator@127.0.0.1:5432/", "names no database"),
            ("postgres://escalator@127.0.0.1:99999/escalator", "port"),
            ("postgres://escalator@127.0.0.1:54x/escalator", "not a URL"),
            ("postgres://escalator@127.0.0.1/escalator?sslmode=sometimes", "sslmode=sometimes"),
            ("postgres://escalator@127.0.0.1/escalator?sslmode=verify", "use disable, prefer, require, verify-ca, verify-full"),
            ("postgres://escalator@127.0.0.1/escalator?sslmode=verify-full&sslrootcert=/no/such/ca.pem", "sslrootcert /no/such/ca.pem is not a file"),
            ("postgres://escalator@127.0.0.1/escalator?sslmode=verify-ca&sslrootcert=/etc", "sslrootcert /etc is not a file"),
            ("postgres://escalator@127.0.0.1/escalator?sslrootcert=/etc/passwd", "sslmode=disable, which never uses it"),
            ("postgres://escalator@127.0.0.1/escalator?schema=Robert'); DROP", "not a plain identifier"),
            ("postgres://escalator@127.0.0.1/escalator?schema=Ops", "not a plain identifier"),
            ("postgres://escalator@127.0.0.1/escalator?pool=0", "pool=0"),
            ("postgres://escalator@127.0.0.1/escalator?colour=blue", "unknown option colour"),
            ("postgres://escalator:secret@127.0.0.1/escalator?colour=blue", "postgres://escalator:***@"),
        ])
    func badValues(value: String, problem: String) throws {
        let error = #expect(throws: IncidentStoreError.self) { try IncidentStoreLocation(parsing: value) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("ESCALATOR_STORE") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(problem) == true, "\(problem) in: \(error?.message ?? "")")
        #expect(error?.message.contains("secret") == false)
    }

    @Test("Unset or empty, ESCALATOR_STORE means SQLite in the data folder")
    func defaultLocation() throws {
        let expected = IncidentStoreLocation.sqlite(SQLiteIncidentStoreConfiguration(path: "var/escalator.sqlite"))
        #expect(try IncidentStoreLocation.fromEnvironment([:], dataFolder: "var") == expected)
        #expect(try IncidentStoreLocation.fromEnvironment(["ESCALATOR_STORE": " "], dataFolder: "var") == expected)
        #expect(
            try IncidentStoreLocation.fromEnvironment(["ESCALATOR_STORE": "sqlite:///x.sqlite"])
                == .sqlite(SQLiteIncidentStoreConfiguration(path: "/x.sqlite")))
    }

    @Test("A SQLite location opens a SQLite store that needs no service")
    func opensSQLite() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let location = try IncidentStoreLocation(parsing: "sqlite://\(folder.path)/store.sqlite")
        let opened = try await location.open(logger: Logger(label: "test.store"))
        #expect(opened.store is SQLiteIncidentStore)
        #expect(opened.service == nil)
        #expect(try await opened.store.openIncidents().isEmpty)
    }

    @Test(
        "A PostgreSQL location opens a PostgreSQL store whose service runs its pool",
        .enabled(if: TestPostgres.url != nil, TestPostgres.skipReason))
    func opensPostgres() async throws {
        let configuration = try TestPostgres.configuration(clock: .database)
        let location = try IncidentStoreLocation(parsing: "\(try #require(TestPostgres.url))?schema=\(configuration.schema)")
        let count = try await location.withStore(logger: Logger(label: "test.store")) { store in
            #expect(store is PostgresIncidentStore)
            return try await store.openIncidents().count
        }
        #expect(count == 0)
        let store = try await TestPostgres.makeStore(configuration: configuration)
        await TestPostgres.dropStore(store)
    }
}
