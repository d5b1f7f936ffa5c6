import Foundation
import IncidentStore
import PostgresNIO
import _ConnectionPoolModule

/// PostgreSQL's and the client's errors turned into `IncidentStoreError`s a person can act on.
struct ErrorTranslator: Sendable {
    let configuration: PostgresIncidentStoreConfiguration

    /// SQLSTATE of a server error, if the error is one.
    static func sqlState(_ error: any Error) -> String? {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] }
        if let error = error as? PostgresTransactionError {
            return [error.closureError, error.commitError, error.beginError].lazy.compactMap { $0 }.compactMap(sqlState)
                .first
        }
        return nil
    }

    /// Unique violation: another writer got there first.
    static func isUniqueViolation(_ error: any Error) -> Bool { sqlState(error) == "23505" }

    /// Deadlock or serialisation failure: the message can simply be applied again.
    static func isRetryableConflict(_ error: any Error) -> Bool {
        ["40P01", "40001"].contains(sqlState(error))
    }

    func translate(_ error: any Error, _ doing: String) -> any Error {
        if error is IncidentStoreError || error is CancellationError || error is RolledBackMessage { return error }
        if let error = error as? PostgresTransactionError {
            let inner = error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError
            if let inner { return translate(inner, doing) }
        }
        if let failure = Self.tlsFailure(error) { return tlsRefused(failure, doing) }
        if let error = error as? PSQLError {
            if error.code == .server { return serverError(error, doing) }
            if error.code == .sslUnsupported {
                return IncidentStoreError(
                    .cannotOpen,
                    "PostgreSQL at \(configuration.endpoint) does not offer TLS, and sslmode=\(configuration.tls.rawValue) "
                        + "requires it: turn ssl on in the server's postgresql.conf, or use sslmode=prefer or disable "
                        + "on a network you trust")
            }
            if [.queryCancelled].contains(error.code) { return CancellationError() }
            if [.connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection, .poolClosed]
                .contains(error.code)
            {
                return unavailable(Self.reason(error), doing)
            }
            return IncidentStoreError(.databaseFailed, "\(doing) on PostgreSQL at \(configuration.endpoint): \(Self.reason(error))")
        }
        if let error = error as? ConnectionPoolError {
            return unavailable(
                error == .connectionCreationCircuitBreakerTripped ? "no connection could be opened for a while" : "\(error)",
                doing)
        }
        if error is IOError || error is ChannelError || error is NIOConnectionError {
            return unavailable(Self.reason(error), doing)
        }
        return IncidentStoreError(.databaseFailed, "\(doing) on PostgreSQL at \(configuration.endpoint): \(error)")
    }

    /// The TLS error inside a connection failure, if the client refused the server or could not
    /// set TLS up: a certificate not trusted, a host name it does not name, a CA file that is not
    /// one. A connection lost during or after the handshake is an outage, not one of these.
    static func tlsFailure(_ error: any Error) -> (any Error)? {
        switch error {
        case is NIOSSLExtraError, is BoringSSLError:
            return error
        case NIOSSLError.failedToLoadCertificate, NIOSSLError.failedToLoadPrivateKey,
            NIOSSLError.noCertificateToValidate, NIOSSLError.unableToValidateCertificate:
            return error
        case NIOSSLError.handshakeFailed(let failure):
            return "\(failure)".contains("CERTIFICATE_VERIFY_FAILED") ? error : nil
        case let error as PSQLError:
            return error.underlying.flatMap(tlsFailure)
        case let error as NIOConnectionError:
            return error.connectionErrors.lazy.compactMap { tlsFailure($0.error) }.first
        default:
            return nil
        }
    }

    /// Retrying cannot help: the server and the URL disagree about who the server is.
    func tlsRefused(_ failure: any Error, _ doing: String) -> IncidentStoreError {
        let roots = configuration.rootCertificatePath.map { "the CA certificates in \($0)" } ?? "the system's trusted CAs"
        let advice: String
        switch failure {
        case NIOSSLError.failedToLoadCertificate, NIOSSLError.failedToLoadPrivateKey, is BoringSSLError:
            advice = "check that sslrootcert names a PEM file of CA certificates"
        case is NIOSSLExtraError:
            advice = "the certificate does not name \(configuration.host): connect by a name the server's certificate holds "
                + "(verify-full checks it), or use sslmode=verify-ca"
        default:
            advice = "give the CA that signed the server's certificate with sslrootcert=PATH, or "
                + (configuration.rootCertificatePath == nil ? "use sslmode=require" : "use sslmode=require without sslrootcert")
                + " to encrypt without checking who the server is"
        }
        return IncidentStoreError(
            .cannotOpen,
            "TLS with PostgreSQL at \(configuration.endpoint) failed while \(doing) (sslmode=\(configuration.tls.rawValue), "
                + "checked against \(roots)): \(failure); \(advice)")
    }

    func unavailable(_ reason: String, _ doing: String) -> IncidentStoreError {
        IncidentStoreError(
            .unavailable,
            "cannot reach PostgreSQL at \(configuration.endpoint) (\(reason)) while \(doing): nothing was kept; "
                + "retrying after a pause is safe once the server is back")
    }

    private func serverError(_ error: PSQLError, _ doing: String) -> IncidentStoreError {
        let state = error.serverInfo?[.sqlState] ?? ""
        let message = error.serverInfo?[.message] ?? "no message"
        let who = "user \(configuration.username) on database \(configuration.database) at \(configuration.endpoint)"
        switch state {
        case "28P01", "28000":
            return IncidentStoreError(
                .cannotOpen,
                "PostgreSQL refused \(who): \(message). Check the user and password in the store URL "
                    + "(ESCALATOR_STORE) and the server's pg_hba.conf.")
        case "3D000":
            return IncidentStoreError(
                .cannotOpen,
                "PostgreSQL at \(configuration.endpoint) has no database \(configuration.database) (\(who)): \(message). "
                    + "Create it (createdb -h \(configuration.host) -p \(configuration.port) -U \(configuration.username) "
                    + "\(configuration.database)) or fix the database name in the store URL.")
        case "42501":
            return IncidentStoreError(
                .cannotOpen,
                "PostgreSQL denied \(who) while \(doing): \(message). Grant the user rights on schema "
                    + "\(configuration.schema), or use a user that owns it.")
        case _ where state.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300", "53400"].contains(state):
            return unavailable("\(message) [\(state)]", doing)
        default:
            return IncidentStoreError(
                .databaseFailed, "\(doing) on PostgreSQL at \(configuration.endpoint): \(message) [SQLSTATE \(state)]")
        }
    }

    /// A short reason for a connection-level failure: "connection refused", the server's message…
    static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return reason(underlying) }
            switch error.code {
            case .serverClosedConnection, .uncleanShutdown: return "the server closed the connection"
            case .clientClosedConnection, .poolClosed: return "the store's connections are closed"
            default: return "\(error.code)"
            }
        }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return reason(first.error) }
            if let dns = error.dnsAAAAError ?? error.dnsAError { return "cannot resolve the host name: \(dns)" }
            return "cannot connect"
        }
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode)).lowercased()
        }
        if let error = error as? ChannelError {
            if case .connectTimeout = error { return "connection timed out" }
            return "\(error)"
        }
        return "\(error)"
    }
}
