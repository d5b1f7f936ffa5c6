import ArgumentParser
import Foundation
import Logging
import PlanFile
import Worker

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker: consume incidents and replies, page in call order, publish notices and status.",
        discussion: """
            Reads its settings from the settings file, each overridable by an environment variable \
            (ESCALATOR_AMQP_URL, ESCALATOR_STORE, ESCALATOR_PLAN, ESCALATOR_SECRET_FILE, ...; see \
            config/escalator.yaml). Refuses to start on a plan with problems, listing them as \
            check-config does. Run as many workers as the load needs: they share the store and the \
            queues. SIGTERM or SIGINT stops consuming, finishes what is in flight, publishes what \
            is left in the outbox and exits 0.

            Example:
              ESCALATOR_AMQP_URL=amqp://escalator:secret@mq.internal:5672/%2f \\
              ESCALATOR_SECRET_FILE=/etc/escalator/page-token.secret \\
                escalator worker --config config/escalator.yaml
            """
    )

    @OptionGroup var settings: SettingsOption

    func run() async throws {
        let configuration: WorkerConfiguration
        do {
            configuration = try WorkerConfiguration.load(file: settings.config)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.logLevel
            return handler
        }
        let logger = Logger(label: "escalator.worker")
        do {
            try await EscalatorWorker(configuration: configuration, logger: logger).run()
        } catch let error as PlanProblems {
            FileHandle.standardError.write(
                Data("\(error)\n\(error.problems.count) problem(s) in \(configuration.planPath); the worker did not start\n".utf8))
            throw ExitCode(1)
        } catch {
            logger.critical("worker stopped: \(error)")
            throw ExitCode(1)
        }
    }
}
