import Foundation

/// Where and how to connect: parsed from `amqp://user:pass@host:port/vhost` or `amqps://...`.
public struct AMQPConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var virtualHost: String
    /// TLS settings; `nil` for plain `amqp://`.
    public var tls: TLS?
    /// Shown in the broker's management UI and `rabbitmqctl list_connections`.
    public var connectionName: String
    /// Always on: rabbitmq-c has no background thread, and without heartbeats a stalled peer looks
    /// exactly like an idle queue.
    public var heartbeat: Duration
    /// How long opening the socket and the AMQP handshake may take.
    public var connectTimeout: Duration
    public var recovery: RecoveryPolicy

    public struct TLS: Sendable {
        /// PEM file of the certificate authorities to trust; rabbitmq-c loads no system store.
        public var caCertificatePath: String
        public var clientCertificatePath: String?
        public var clientKeyPath: String?
        public var verifyPeer: Bool
        public var verifyHostname: Bool

        public init(
            caCertificatePath: String,
            clientCertificatePath: String? = nil,
            clientKeyPath: String? = nil,
            verifyPeer: Bool = true,
            verifyHostname: Bool = true
        ) {
            self.caCertificatePath = caCertificatePath
            self.clientCertificatePath = clientCertificatePath
            self.clientKeyPath = clientKeyPath
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
        }
    }

    /// Parses an AMQP URL. `amqps://` needs `tls` (at least a CA file); the default vhost is `/`,
    /// written `%2F` in a URL.
    public init(
        url: String,
        tls: TLS? = nil,
        connectionName: String,
        heartbeat: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(10),
        recovery: RecoveryPolicy = RecoveryPolicy()
    ) throws(AMQPError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "amqp" || scheme == "amqps"
        else {
            throw AMQPError(
                .invalidConfiguration,
                "'\(Self.redacted(url))' is not an AMQP URL; expected amqp://user:password@host:port/vhost")
        }
        if scheme == "amqps" && tls == nil {
            throw AMQPError(
                .invalidConfiguration,
                "\(Self.redacted(url)) uses TLS: give the CA certificate file (and client certificate and key if the broker asks for them)")
        }
        guard heartbeat >= .seconds(1) else {
            throw AMQPError(.invalidConfiguration, "heartbeat must be at least 1 s, got \(heartbeat)")
        }
        self.host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        self.port = components.port ?? (scheme == "amqps" ? 5671 : 5672)
        self.user = components.user?.removingPercentEncoding ?? "guest"
        self.password = components.password?.removingPercentEncoding ?? "guest"
        let path = components.percentEncodedPath
        let encodedVirtualHost = path.hasPrefix("/") ? String(path.dropFirst()) : path
        self.virtualHost =
            encodedVirtualHost.isEmpty ? "/" : (encodedVirtualHost.removingPercentEncoding ?? encodedVirtualHost)
        self.tls = tls
        self.connectionName = connectionName
        self.heartbeat = heartbeat
        self.connectTimeout = connectTimeout
        self.recovery = recovery
    }

    /// The broker's address without credentials, fit for logs and errors.
    public var endpointDescription: String {
        "\(tls == nil ? "amqp" : "amqps")://\(user)@\(host):\(port)/\(virtualHost == "/" ? "%2F" : virtualHost)"
    }

    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "<unparsable URL>" }
        if components.password != nil { components.password = "***" }
        return components.string ?? "<unparsable URL>"
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    var timevalValue: timeval {
        let (seconds, attoseconds) = components
        return timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
