import AMQP
import Foundation
import Logging
import Testing
import Worker

@Suite("Worker settings")
struct WorkerConfigurationTests {
    static let sampleSettings = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/escalator.yaml").path

    @Test func theSampleSettingsFileLoads() throws {
        let configuration = try WorkerConfiguration.load(file: Self.sampleSettings, environment: [:])
        #expect(configuration.store == "data/escalator.sqlite")
        #expect(configuration.planPath == "config/plan.yaml")
        #expect(configuration.names.incidentsQueue == "escalator.incidents")
        #expect(configuration.sweepInterval == .seconds(1))
        #expect(configuration.retention == .seconds(30 * 86400))
        #expect(configuration.prefetch == 512)
        #expect(configuration.intakeLinger == .milliseconds(2))
    }

    @Test("The intake's linger can be changed or turned off with 0")
    func intakeLingerIsSetOrTurnedOff() throws {
        let longer = try WorkerConfiguration.load(file: Self.sampleSettings, environment: ["ESCALATOR_INTAKE_LINGER": "5ms"])
        #expect(longer.intakeLinger == .milliseconds(5))
        let off = try WorkerConfiguration.load(file: Self.sampleSettings, environment: ["ESCALATOR_INTAKE_LINGER": "0"])
        #expect(off.intakeLinger == .zero)
        #expect(throws: (any Error).self) {
            try WorkerConfiguration.load(file: nil, environment: ["ESCALATOR_INTAKE_LINGER": "a while"])
        }
    }

    @Test func environmentVariablesOverrideTheFile() throws {
        let configuration = try WorkerConfiguration.load(
            file: Self.sampleSettings,
            environment: [
                "ESCALATOR_AMQP_URL": "amqp://ops:pw@mq:5672/prod", "ESCALATOR_STORE": "/var/lib/escalator/s.sqlite",
                "ESCALATOR_PLAN": "/etc/escalator/plan.yaml", "ESCALATOR_SWEEP_INTERVAL": "250ms",
                "ESCALATOR_NAMES_REPLIES_QUEUE": "prod.replies", "ESCALATOR_LOG_LEVEL": "debug",
            ])
        #expect(configuration.amqpURL == "amqp://ops:pw@mq:5672/prod")
        #expect(configuration.store == "/var/lib/escalator/s.sqlite")
        #expect(configuration.planPath == "/etc/escalator/plan.yaml")
        #expect(configuration.sweepInterval == .milliseconds(250))
        #expect(configuration.names.repliesQueue == "prod.replies")
        #expect(configuration.logLevel == .debug)
    }

    @Test func theSecretFileIsReadWithoutItsTrailingNewline() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)").path
        try "s3cret\n".write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try WorkerConfiguration.load(file: nil, environment: ["ESCALATOR_SECRET_FILE": path])
        #expect(configuration.secret == Array("s3cret".utf8))
    }

    @Test func everyBadSettingIsReportedAtOnceWithItsVariable() {
        do {
            _ = try WorkerConfiguration.load(
                file: Self.sampleSettings,
                environment: [
                    "ESCALATOR_SWEEP_INTERVAL": "soon", "ESCALATOR_AMQP_PREFETCH": "-3", "ESCALATOR_LOG_LEVEL": "loud",
                    "ESCALATOR_SECRET_FILE": "/nonexistent/secret",
                ])
            Issue.record("bad settings were accepted")
        } catch {
            #expect(
                error.problems == [
                    "amqp.prefetch (ESCALATOR_AMQP_PREFETCH) must be a whole number above 0, found '-3'",
                    "sweep.interval (ESCALATOR_SWEEP_INTERVAL) must be a positive duration such as 500ms, 10s or 5m, found 'soon'",
                    "log_level (ESCALATOR_LOG_LEVEL) must be one of trace, debug, info, notice, warning, error, critical, found 'loud'",
                    "secret_file (ESCALATOR_SECRET_FILE) names '/nonexistent/secret', which cannot be read or is empty",
                ])
            #expect(error.description.hasPrefix(Self.sampleSettings + ": amqp.prefetch"))
        }
    }
}
