import AMQP
import Logging
import Foundation
import Testing

/// The TLS listener of the private node and the certificates `scripts/lib/rabbitmq.sh` made (with
/// `test_tls_files` of scripts/lib/common.sh).
enum TestTLS {
    static let url = ProcessInfo.processInfo.environment["ESCALATOR_TEST_AMQPS_URL"]
    static let directory = ProcessInfo.processInfo.environment["ESCALATOR_TEST_TLS_DIR"] ?? ""
    static let isAvailable = url != nil && !directory.isEmpty
}

extension BrokerTests {
    @Suite("TLS", .enabled(if: TestTLS.isAvailable, "ESCALATOR_TEST_AMQPS_URL or ESCALATOR_TEST_TLS_DIR is not set: run scripts/test"))
    struct TLSTests {

        private func configuration(caFile: String, url: String = TestTLS.url!) throws -> AMQPConfiguration {
            let tls = AMQPConfiguration.TLS(
                caCertificatePath: "\(TestTLS.directory)/\(caFile)",
                clientCertificatePath: "\(TestTLS.directory)/client.pem",
                clientKeyPath: "\(TestTLS.directory)/client-key.pem")
            return try AMQPConfiguration(url: url, tls: tls, connectionName: "test: tls", recovery: RecoveryPolicy(maximumAttempts: 1))
        }

        @Test("a TLS connection verified against the CA, with a client certificate, publishes with confirms")
        func verifiedConnectionPublishes() async throws {
            let publisher = AMQPPublisher(configuration: try configuration(caFile: "ca.pem"), logger: TestBroker.logger)
            let outcome = try await withTimeout(20, "the TLS publish") {
                try await publisher.publish(message("amq.topic", "nobody", "{}"))
            }
            #expect(outcome == .returned(replyCode: 312, replyText: "NO_ROUTE"))
            await publisher.close()
        }

        @Test("on TLS too, a message whose headers cannot fit in a frame fails alone, without a reconnect")
        func unpublishableMessageFailsAloneOverTLS() async throws {
            let publisher = AMQPPublisher(configuration: try configuration(caFile: "ca.pem"), logger: TestBroker.logger)
            var huge = message("amq.topic", "nobody", "{}", id: "huge")
            huge.properties.headers["x-huge"] = .string(String(repeating: "x", count: 200_000))
            let receipt = publisher.submit([huge, message("amq.topic", "nobody", "{}", id: "after")])
            let outcomes = try await withTimeout(20, "the outcomes") { try await receipt.outcomes() }
            if case .unpublishable(let reason)? = outcomes.first {
                #expect(reason.contains("frame"))
            } else {
                Issue.record("expected the message to be unpublishable, got \(String(describing: outcomes.first))")
            }
            #expect(outcomes.dropFirst() == [.returned(replyCode: 312, replyText: "NO_ROUTE")])
            #expect(publisher.sessionsStarted == 1)
            await publisher.close()
        }

        @Test("a broker certificate not signed by the configured CA is refused")
        func unknownAuthorityIsRefused() async throws {
            do {
                try await Topology().declare(using: try configuration(caFile: "other-ca.pem"), logger: TestBroker.logger)
                Issue.record("a certificate from an unrelated CA was accepted")
            } catch let error as AMQPError {
                TestBroker.logger.info("refused as expected: \(error.message)")
                #expect(error.code == .connectionFailed)
                #expect(error.message.contains("cannot connect to localhost:"))
                #expect(error.message.contains("TLS certificate failed verification (SSL peer cert verification failed)"))
            }
        }

        @Test("a host name the broker's certificate does not name is refused")
        func wrongHostNameIsRefused() async throws {
            let byAddress = TestTLS.url!.replacingOccurrences(of: "@localhost:", with: "@127.0.0.1:")
            do {
                try await Topology().declare(using: try configuration(caFile: "ca.pem", url: byAddress), logger: TestBroker.logger)
                Issue.record("a certificate for localhost was accepted for 127.0.0.1")
            } catch let error as AMQPError {
                TestBroker.logger.info("refused as expected: \(error.message)")
                #expect(error.code == .connectionFailed)
                #expect(error.message.contains("cannot connect to 127.0.0.1:"))
                #expect(error.message.contains("TLS certificate failed verification (SSL hostname verification failed)"))
            }
        }
    }
}
