import Foundation
import IncidentStore

/// Where the PostgreSQL store's database is and how the store uses it.
public struct PostgresIncidentStoreConfiguration: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    /// The schema holding the store's tables (created when missing). Lower-case letters, digits
    /// and underscores; tests use one schema per store so they never see each other's rows.
    public var schema: String
    public var tls: TLSMode
    /// A PEM file of the CA certificates that may sign the server's certificate (`sslrootcert`);
    /// nil: the system's trusted roots. Given with `prefer` or `require`, the chain is verified, as
    /// libpq does.
    public var rootCertificatePath: String?
    /// The most connections the pool opens to the server.
    public var maximumConnections: Int
    /// How long a call waits for a connection (the pool keeps reconnecting with backoff while
    /// the server is away) before it fails with `.unavailable`.
    public var connectionWait: Duration
    /// Whose clock decides when a due time has come and when a lease lapses.
    public var clock: Clock

    /// As libpq's `sslmode`, so a URL that works with `psql` works here.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Plain TCP (the private clusters of tests and one trusted network).
        case disable
        /// TLS when the server offers it; its certificate is checked only when `sslrootcert` names the CA.
        case prefer
        /// TLS or no connection; the certificate is checked only when `sslrootcert` names the CA.
        case require
        /// TLS, and a certificate signed by a trusted CA (`sslrootcert`, or the system's).
        case verifyCA = "verify-ca"
        /// As `verify-ca`, and the certificate names the host the URL connects to.
        case verifyFull = "verify-full"
    }

    /// Several hosts share the database, and their clocks may disagree.
    public enum Clock: String, Sendable, Hashable {
        /// The database's clock (`clock_timestamp()`), the default: claims compare due times and
        /// leases with the server's time and ignore the caller's `now`, and a due time scheduled
        /// by a transition is moved by the difference between the database's clock and the
        /// transition's `at`, so it falls due after the same delay whichever host's clock
        /// handled the event. Hosts with skewed clocks agree on what is due and whose lease lapsed.
        case database
        /// The caller's `now` and `at`, as given: exact replays, and the conformance suite, which
        /// injects times of its own. Use on one host only.
        case caller
    }

    public init(
        host: String = "127.0.0.1", port: Int = 5432, username: String, password: String? = nil,
        database: String, schema: String = "public", tls: TLSMode = .disable, rootCertificatePath: String? = nil,
        maximumConnections: Int = 10, connectionWait: Duration = .seconds(5), clock: Clock = .database
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.schema = schema
        self.tls = tls
        self.rootCertificatePath = rootCertificatePath
        self.maximumConnections = maximumConnections
        self.connectionWait = connectionWait
        self.clock = clock
    }

    /// Parses `postgres://user[:password]@host[:port]/database[?options]` (`postgresql://` too).
    /// Options: `sslmode=disable|prefer|require|verify-ca|verify-full` and `sslrootcert=PATH` (as
    /// libpq reads them), `schema=NAME`, `pool=N` (connections), `wait=SECONDS` (for a connection),
    /// `clock=database|caller`. User and password may be
    /// percent-encoded.
    public init(url text: String) throws {
        func invalid(_ problem: String) -> IncidentStoreError {
            IncidentStoreError(
                .invalidConfiguration,
                "the PostgreSQL store URL \(Self.redacted(text)) \(problem); write it as "
                    + "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, e.g. postgres://escalator@127.0.0.1:5432/escalator")
        }
        guard let components = URLComponents(string: text) else { throw invalid("is not a URL") }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw invalid("does not start with postgres://")
        }
        guard let host = components.host, !host.isEmpty else { throw invalid("names no host") }
        guard let user = components.user, !user.isEmpty else { throw invalid("names no user") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw invalid("names no database (the path after the host)") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw invalid("has port \(port), outside 1–65535") }
        self.init(
            host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: port,
            username: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: database.removingPercentEncoding ?? database)
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw invalid("has sslmode=\(value); use " + TLSMode.allCases.map(\.rawValue).joined(separator: ", "))
                }
                tls = mode
            case "sslrootcert":
                guard !value.isEmpty else { throw invalid("has an empty sslrootcert; give the path of a PEM file of CA certificates") }
                rootCertificatePath = value
            case "schema":
                schema = value
            case "pool":
                guard let count = Int(value), count >= 1 else { throw invalid("has pool=\(value); use a count of 1 or more") }
                maximumConnections = count
            case "wait":
                guard let seconds = Double(value), seconds > 0 else {
                    throw invalid("has wait=\(value); use a number of seconds above 0")
                }
                connectionWait = .milliseconds(Int64(seconds * 1000))
            case "clock":
                guard let clock = Clock(rawValue: value) else { throw invalid("has clock=\(value); use database or caller") }
                self.clock = clock
            default:
                throw invalid("has an unknown option \(item.name); known: sslmode, sslrootcert, schema, pool, wait, clock")
            }
        }
        try validate()
    }

    /// Checks what the server cannot check for us.
    public func validate() throws {
        guard Self.isPlainIdentifier(schema) else {
            throw IncidentStoreError(
                .invalidConfiguration,
                "the schema name \"\(schema)\" of the PostgreSQL store is not a plain identifier; use lower-case "
                    + "letters, digits and underscores, starting with a letter or underscore, at most 63 characters")
        }
        if let path = rootCertificatePath {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else {
                throw IncidentStoreError(
                    .invalidConfiguration,
                    "the PostgreSQL store's sslrootcert \(path) is not a file; give the PEM file of the CA certificates "
                        + "that sign the server's certificate")
            }
            guard tls != .disable else {
                throw IncidentStoreError(
                    .invalidConfiguration,
                    "the PostgreSQL store has sslrootcert=\(path) with sslmode=disable, which never uses it; "
                        + "use sslmode=verify-full to check the server against that CA, or leave sslrootcert out")
            }
        }
        guard maximumConnections >= 1 else {
            throw IncidentStoreError(
                .invalidConfiguration, "the PostgreSQL store needs at least one connection (got \(maximumConnections))")
        }
    }

    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 63 else { return false }
        func letter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || c == "_" }
        return letter(first) && name.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) }
    }

    /// `host:port`, as errors name the server.
    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The URL without its password: safe for logs and errors.
    public var description: String {
        let user = username.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? username
        var text = "postgres://\(user)\(password == nil ? "" : ":***")@\(endpoint)/\(database)"
        var options: [String] = []
        if schema != "public" { options.append("schema=\(schema)") }
        if tls != .disable { options.append("sslmode=\(tls.rawValue)") }
        if let rootCertificatePath { options.append("sslrootcert=\(rootCertificatePath)") }
        if clock != .database { options.append("clock=\(clock.rawValue)") }
        if !options.isEmpty { text += "?" + options.joined(separator: "&") }
        return text
    }

    /// `text` with any password replaced by `***`.
    static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let schemeEnd = text.range(of: "://")?.upperBound, schemeEnd < at,
            let colon = text[schemeEnd..<at].firstIndex(of: ":")
        else { return text }
        return text[..<text.index(after: colon)] + "***" + text[at...]
    }
}
