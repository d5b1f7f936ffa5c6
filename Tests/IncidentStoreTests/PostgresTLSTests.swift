import Foundation
import IncidentStore
@testable import IncidentStorePostgres
import Logging
import NIOSSL
import PostgresNIO
import Testing

/// TLS to the private cluster scripts/test starts, whose certificate for `localhost` a throwaway
/// CA signed (`ESCALATOR_TEST_POSTGRES_TLS_DIR`): the sslmodes behave as they do for psql, and a
/// server the client cannot trust is refused with what to change.
@Suite(
    "PostgreSQL store over TLS",
    .enabled(
        if: TestPostgres.url != nil && TestPostgres.tlsDirectory != nil,
        "ESCALATOR_TEST_POSTGRES_URL or ESCALATOR_TEST_POSTGRES_TLS_DIR is not set: run scripts/test"))
struct PostgresTLSTests {
    let logger = Logger(label: "test.store")

    func configuration(
        _ mode: PostgresIncidentStoreConfiguration.TLSMode, rootCertificate: String? = nil, host: String? = nil
    ) throws -> PostgresIncidentStoreConfiguration {
        var configuration = try TestPostgres.configuration()
        configuration.tls = mode
        configuration.rootCertificatePath = try rootCertificate.map { "\(try #require(TestPostgres.tlsDirectory))/\($0)" }
        if let host { configuration.host = host }
        return configuration
    }

    /// Whether the store's own connections to the server are encrypted, as the server sees them.
    func connectionsAreEncrypted(_ store: PostgresIncidentStore) async throws -> Bool {
        let rows = try await store.query(
            "reading the connection's TLS state", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        return try #require(rows.first).decode(Bool.self)
    }

    @Test("sslmode=require encrypts without checking who signed the certificate, as psql does")
    func requireEncryptsWithoutVerifying() async throws {
        try await TestPostgres.withStore(configuration: try configuration(.require)) { store in
            let encrypted = try await connectionsAreEncrypted(store)
            #expect(encrypted)
            let open = try await store.openIncidents()
            #expect(open.isEmpty)
        }
    }

    @Test("verify-full connects to the server by the name its certificate holds, trusting the CA in sslrootcert")
    func verifyFullWithTheSigningCA() async throws {
        try await TestPostgres.withStore(configuration: try configuration(.verifyFull, rootCertificate: "ca.pem", host: "localhost")) { store in
            let encrypted = try await connectionsAreEncrypted(store)
            #expect(encrypted)
        }
    }

    @Test("verify-ca checks the signer only: the server reached by its address is accepted")
    func verifyCAIgnoresTheName() async throws {
        try await TestPostgres.withStore(configuration: try configuration(.verifyCA, rootCertificate: "ca.pem", host: "127.0.0.1")) { store in
            let encrypted = try await connectionsAreEncrypted(store)
            #expect(encrypted)
        }
    }

    @Test(
        "A certificate the client cannot trust is refused at start-up with what to change, not retried as an outage",
        arguments: [
            // Signed by a CA other than the one given.
            ("other-ca.pem", .verifyFull, "localhost"),
            // No CA given: the system's trusted CAs did not sign it.
            (nil, .verifyCA, "localhost"),
            // With sslrootcert, require and prefer check the signer too, as libpq does.
            ("other-ca.pem", .require, "127.0.0.1"),
            ("other-ca.pem", .prefer, "localhost"),
        ] as [(String?, PostgresIncidentStoreConfiguration.TLSMode, String)])
    func untrustedCertificateIsRefused(rootCertificate: String?, mode: PostgresIncidentStoreConfiguration.TLSMode, host: String) async throws {
        let configuration = try configuration(mode, rootCertificate: rootCertificate, host: host)
        let error = await #expect(throws: IncidentStoreError.self) {
            _ = try await PostgresIncidentStore.connect(configuration: configuration, logger: logger)
        }
        #expect(error?.code == .cannotOpen)
        #expect(error?.isTransient == false)
        let message = error?.message ?? ""
        for part in ["TLS with PostgreSQL at \(configuration.endpoint)", "sslmode=\(mode.rawValue)", "sslrootcert=PATH"] {
            #expect(message.contains(part), "\(part) in: \(message)")
        }
        #expect(message.contains(rootCertificate ?? "the system's trusted CAs"), "\(message)")
    }

    @Test("A server without TLS is refused when the mode requires it, and used in the clear with prefer")
    func serverWithoutTLS() async throws {
        var cluster = try PrivateCluster(
            directory: try #require(TestPostgres.directory) + "-no-tls", port: try TestPostgres.freePort())
        cluster.tls = false
        try await cluster.whileRunning {
            var configuration = try configuration(.require)
            configuration.port = cluster.port
            let error = await #expect(throws: IncidentStoreError.self) {
                _ = try await PostgresIncidentStore.connect(configuration: configuration, logger: logger)
            }
            #expect(error?.code == .cannotOpen)
            #expect(error?.message.contains("does not offer TLS, and sslmode=require requires it") == true, "\(error?.message ?? "")")

            configuration.tls = .prefer
            try await TestPostgres.withStore(configuration: configuration) { store in
                let encrypted = try await connectionsAreEncrypted(store)
                #expect(!encrypted)
            }
        }
    }

    @Test("A connection lost during or after the handshake is an outage to wait out, not a refused server")
    func lostConnectionIsNoTLSRefusal() throws {
        let errors = ErrorTranslator(configuration: try configuration(.require))
        for lost in [NIOSSLError.uncleanShutdown, .handshakeFailed(.sslError([])), .handshakeFailed(.syscallError), .handshakeFailed(.zeroReturn)] {
            #expect(ErrorTranslator.tlsFailure(lost) == nil, "\(lost)")
            let translated = errors.translate(lost, "applying 1 message(s)") as? IncidentStoreError
            #expect(translated?.code != .cannotOpen, "\(lost)")
        }
        #expect(ErrorTranslator.tlsFailure(NIOSSLError.failedToLoadCertificate) != nil)
    }

    @Test("verify-full refuses a server reached by a name its certificate does not hold, and says so")
    func verifyFullChecksTheName() async throws {
        let configuration = try configuration(.verifyFull, rootCertificate: "ca.pem", host: "127.0.0.1")
        let error = await #expect(throws: IncidentStoreError.self) {
            _ = try await PostgresIncidentStore.connect(configuration: configuration, logger: logger)
        }
        #expect(error?.code == .cannotOpen)
        #expect(error?.message.contains("connect by a name the server's certificate holds") == true, "\(error?.message ?? "")")
    }

    @Test("A CA file that holds no certificate is refused, naming the file")
    func rootCertificateThatIsNotOne() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/not-a-ca.pem"
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: path))
        var configuration = try configuration(.verifyFull, host: "localhost")
        configuration.rootCertificatePath = path
        let error = await #expect(throws: IncidentStoreError.self) {
            _ = try await PostgresIncidentStore.connect(configuration: configuration, logger: logger)
        }
        #expect(error?.code == .cannotOpen)
        #expect(error?.message.contains(path) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("PEM file of CA certificates") == true, "\(error?.message ?? "")")
    }
}

extension TestPostgres {
    /// The test cluster's CA and the unrelated one (scripts/lib/common.sh `test_tls_files`).
    static let tlsDirectory = ProcessInfo.processInfo.environment["ESCALATOR_TEST_POSTGRES_TLS_DIR"].flatMap {
        $0.isEmpty ? nil : $0
    }
}
