import AMQP
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    @Test("a URL gives host, port, user, password and vhost")
    func urlIsParsed() throws {
        let configuration = try AMQPConfiguration(url: "amqp://alice:s%40cret@broker.example:5673/ops", connectionName: "test")
        #expect(configuration.host == "broker.example")
        #expect(configuration.port == 5673)
        #expect(configuration.user == "alice")
        #expect(configuration.password == "s@cret")
        #expect(configuration.virtualHost == "ops")
        #expect(configuration.tls == nil)
    }

    @Test("the default vhost is / and %2F spells it")
    func defaultVirtualHost() throws {
        #expect(try AMQPConfiguration(url: "amqp://guest:guest@localhost", connectionName: "t").virtualHost == "/")
        #expect(try AMQPConfiguration(url: "amqp://guest:guest@localhost:5672/%2F", connectionName: "t").virtualHost == "/")
        #expect(try AMQPConfiguration(url: "amqp://localhost", connectionName: "t").port == 5672)
    }

    @Test("amqps takes port 5671 and needs a CA file")
    func tlsNeedsCertificateAuthority() throws {
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqps://u:p@broker", connectionName: "t") }
        let tls = AMQPConfiguration.TLS(caCertificatePath: "/etc/escalator/ca.pem")
        let configuration = try AMQPConfiguration(url: "amqps://u:p@broker", tls: tls, connectionName: "t")
        #expect(configuration.port == 5671)
        #expect(configuration.tls?.verifyPeer == true)
        #expect(configuration.tls?.verifyHostname == true)
    }

    @Test("descriptions and errors never show the password")
    func passwordIsNeverShown() throws {
        let configuration = try AMQPConfiguration(url: "amqp://alice:topsecret@broker:5672/ops", connectionName: "t")
        #expect(!configuration.endpointDescription.contains("topsecret"))
        do {
            _ = try AMQPConfiguration(url: "http://alice:topsecret@broker", connectionName: "t")
            Issue.record("an http URL was accepted")
        } catch {
            #expect(!error.message.contains("topsecret"))
            #expect(error.code == .invalidConfiguration)
        }
    }

    @Test("heartbeats cannot be turned off")
    func heartbeatIsRequired() {
        #expect(throws: AMQPError.self) {
            try AMQPConfiguration(url: "amqp://localhost", connectionName: "t", heartbeat: .zero)
        }
    }

    @Test("backoff grows exponentially, is capped and jittered")
    func backoffIsCappedAndJittered() {
        let policy = RecoveryPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(8), multiplier: 2, jitter: 0.2)
        var generator = SystemRandomNumberGenerator()
        for attempt in 1...10 {
            let expected = min(pow2(attempt - 1), 8.0)
            let delay = policy.delay(beforeAttempt: attempt, using: &generator)
            let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
            #expect(seconds >= expected * 0.8 - 0.001 && seconds <= min(expected * 1.2, 8) + 0.001)
        }
    }

    private func pow2(_ exponent: Int) -> Double { Double(1 << exponent) }

    @Test("a recovering state tells the error and when the next attempt comes")
    func recoveringStateDescription() {
        let error = AMQPError(.connectionRefused, "cannot connect to 127.0.0.1:1 (connection refused)")
        let state = ConnectionState.recovering(attempt: 2, lastError: error, retryIn: .seconds(2))
        #expect(state.description.contains("cannot connect to 127.0.0.1:1 (connection refused), retrying in 2 s"))
    }
}
