import AMQP
import Configuration
import Foundation
import Logging
import PlanFile
import WireContract
import Yams

/// The worker's runtime settings: `config/escalator.yaml`, each setting overridable by an
/// environment variable (`amqp.url` → `ESCALATOR_AMQP_URL`).
public struct WorkerConfiguration: Sendable {
    public var amqpURL: String
    public var amqpCAFile: String?
    public var amqpCertFile: String?
    public var amqpKeyFile: String?
    public var heartbeat: Duration
    /// Deliveries each consumer holds unacknowledged; half of them make the intake's largest batch.
    public var prefetch: Int
    /// How long the intake waits for more messages when only a few arrived, so that they share
    /// one transaction; zero takes each batch as it comes.
    public var intakeLinger: Duration
    /// `data/escalator.sqlite`, a `sqlite://` URL, or `postgres://...`.
    public var store: String
    public var planPath: String
    /// The page-token key: the contents of `secret_file`, else `secret`.
    public var secret: [UInt8]
    public var names: EscalatorNames
    public var sweepInterval: Duration
    public var lease: Duration
    public var sweepBatch: Int
    public var outboxBatch: Int
    /// How old another worker's unpublished messages get before this worker's relay takes them.
    public var outboxTakeover: Duration
    public var retention: Duration
    public var logLevel: Logger.Level

    /// Reads the settings file (when it exists) under the environment's overrides.
    public static func load(
        file: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> WorkerConfiguration {
        var fileValues: [AbsoluteConfigKey: ConfigValue] = [:]
        if let file, FileManager.default.fileExists(atPath: file) {
            fileValues = try flattenedYAML(at: file)
        }
        let reader = ConfigReader(providers: [
            EnvironmentVariablesProvider(environmentVariables: environment),
            InMemoryProvider(name: file ?? "defaults", values: fileValues),
        ]).scoped(to: "escalator")
        return try WorkerConfiguration(reader: reader, file: file ?? "(no file)")
    }

    init(reader: ConfigReader, file: String) throws(ConfigurationError) {
        var problems: [String] = []
        func text(_ key: String, default value: String) -> String {
            reader.string(forKey: ConfigKey(key.split(separator: ".").map(String.init)), default: value)
        }
        func optional(_ key: String) -> String? {
            let value = text(key, default: "")
            return value.isEmpty ? nil : value
        }
        func duration(_ key: String, default value: String) -> Duration {
            let written = text(key, default: value)
            switch DurationText.parse(written) {
            case .success(let duration): return duration
            case .failure:
                problems.append("\(Self.describe(key)) must be a positive duration such as 500ms, 10s or 5m, found '\(written)'")
                return .seconds(1)
            }
        }
        func count(_ key: String, default value: Int) -> Int {
            let written = text(key, default: String(value))
            guard let number = Int(written), number > 0 else {
                problems.append("\(Self.describe(key)) must be a whole number above 0, found '\(written)'")
                return value
            }
            return number
        }

        amqpURL = text("amqp.url", default: "amqp://guest:guest@127.0.0.1:5672/%2f")
        amqpCAFile = optional("amqp.ca_file")
        amqpCertFile = optional("amqp.cert_file")
        amqpKeyFile = optional("amqp.key_file")
        heartbeat = duration("amqp.heartbeat", default: "10s")
        prefetch = count("amqp.prefetch", default: 512)
        store = text("store", default: "data/escalator.sqlite")
        planPath = text("plan", default: "config/plan.yaml")
        var names = EscalatorNames()
        names.incidentsExchange = text("names.incidents_exchange", default: names.incidentsExchange)
        names.pagesExchange = text("names.pages_exchange", default: names.pagesExchange)
        names.noticesExchange = text("names.notices_exchange", default: names.noticesExchange)
        names.statusExchange = text("names.status_exchange", default: names.statusExchange)
        names.incidentsQueue = text("names.incidents_queue", default: names.incidentsQueue)
        names.repliesQueue = text("names.replies_queue", default: names.repliesQueue)
        names.deadLetterExchange = text("names.dead_letter_exchange", default: names.deadLetterExchange)
        names.deadLetterQueue = text("names.dead_letter_queue", default: names.deadLetterQueue)
        self.names = names
        let linger = text("intake.linger", default: "2ms")
        intakeLinger = ["0", "0s", "0ms"].contains(linger) ? .zero : duration("intake.linger", default: "2ms")
        sweepInterval = duration("sweep.interval", default: "1s")
        lease = duration("sweep.lease", default: "30s")
        sweepBatch = count("sweep.batch", default: 256)
        outboxBatch = count("outbox.batch", default: 128)
        outboxTakeover = duration("outbox.takeover", default: "5s")
        retention = duration("retention", default: "30d")
        let level = text("log_level", default: "info")
        if let parsed = Logger.Level(rawValue: level) {
            logLevel = parsed
        } else {
            problems.append("\(Self.describe("log_level")) must be one of trace, debug, info, notice, warning, error, critical, found '\(level)'")
            logLevel = .info
        }

        if let secretFile = optional("secret_file") {
            if let contents = FileManager.default.contents(atPath: secretFile), !contents.isEmpty {
                // A trailing newline from an editor is not part of the key.
                secret = Array(String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).utf8)
            } else {
                problems.append("\(Self.describe("secret_file")) names '\(secretFile)', which cannot be read or is empty")
                secret = []
            }
        } else if let inline = optional("secret") {
            secret = Array(inline.utf8)
        } else {
            problems.append("no page-token key: set secret_file (or ESCALATOR_SECRET_FILE) to a file holding the secret")
            secret = []
        }
        if !problems.isEmpty {
            throw ConfigurationError(file: file, problems: problems)
        }
    }

    /// `sweep.interval (ESCALATOR_SWEEP_INTERVAL)`: both names a person may have used.
    static func describe(_ key: String) -> String {
        "\(key) (ESCALATOR_\(key.uppercased().replacingOccurrences(of: ".", with: "_")))"
    }

    /// The YAML file as `escalator.`-prefixed keys: nested mappings become dotted paths.
    static func flattenedYAML(at path: String) throws(ConfigurationError) -> [AbsoluteConfigKey: ConfigValue] {
        let node: Node?
        do {
            node = try Yams.compose(yaml: String(contentsOfFile: path, encoding: .utf8))
        } catch {
            throw ConfigurationError(file: path, problems: ["cannot be read as YAML: \(error)"])
        }
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        func visit(_ node: Node, _ path: [String]) {
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    visit(value, path + [key.string ?? ""])
                }
            case .scalar(let scalar):
                values[AbsoluteConfigKey(["escalator"] + path)] = ConfigValue(.string(scalar.string), isSecret: path.last == "secret")
            default:
                break
            }
        }
        if let node { visit(node, []) }
        return values
    }
}

extension EscalatorNames {
    /// The environment under which `escalator worker` uses these names (the `names.*` settings
    /// as `ESCALATOR_NAMES_*` overrides): for tests and benchmarks that start workers with a
    /// name prefix of their own.
    public var workerEnvironment: [String: String] {
        [
            "ESCALATOR_NAMES_INCIDENTS_EXCHANGE": incidentsExchange,
            "ESCALATOR_NAMES_PAGES_EXCHANGE": pagesExchange,
            "ESCALATOR_NAMES_NOTICES_EXCHANGE": noticesExchange,
            "ESCALATOR_NAMES_STATUS_EXCHANGE": statusExchange,
            "ESCALATOR_NAMES_INCIDENTS_QUEUE": incidentsQueue,
            "ESCALATOR_NAMES_REPLIES_QUEUE": repliesQueue,
            "ESCALATOR_NAMES_DEAD_LETTER_EXCHANGE": deadLetterExchange,
            "ESCALATOR_NAMES_DEAD_LETTER_QUEUE": deadLetterQueue,
        ]
    }
}

/// Settings that cannot be used, all of them at once, each saying what to change.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var problems: [String]

    public var description: String {
        problems.map { "\(file): \($0)" }.joined(separator: "\n")
    }
}
