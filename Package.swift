// swift-tools-version: 6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "escalator",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CallTree", targets: ["CallTree"]),
        .library(name: "WireContract", targets: ["WireContract"]),
        .library(name: "JSONWriting", targets: ["JSONWriting"]),
        .library(name: "PlanFile", targets: ["PlanFile"]),
        .library(name: "Rendering", targets: ["Rendering"]),
        .executable(name: "escalator", targets: ["escalator"]),
        .library(name: "Worker", targets: ["Worker"]),
        .library(name: "AMQP", targets: ["AMQP"]),
        .library(name: "IncidentStore", targets: ["IncidentStore"]),
        .library(name: "IncidentStoreSQLite", targets: ["IncidentStoreSQLite"]),
        .library(name: "IncidentStorePostgres", targets: ["IncidentStorePostgres"]),
        .library(name: "IncidentStoreSelection", targets: ["IncidentStoreSelection"]),
    ],
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // The emergency plan and its escalation state machine: pure, no I/O, no clock.
        .target(name: "CallTree", swiftSettings: strictSettings),
        .testTarget(
            name: "CallTreeTests",
            dependencies: [
                "CallTree",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSettings
        ),
        // The v1 messages on the wire: validation of what comes in, encoding of what goes out.
        // JSON written straight into bytes: the messages Escalator publishes and the states it stores.
        .target(name: "JSONWriting", swiftSettings: strictSettings),
        .testTarget(name: "JSONWritingTests", dependencies: ["JSONWriting"], swiftSettings: strictSettings),
        .target(
            name: "WireContract",
            dependencies: ["CallTree", "JSONWriting", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "WireContractTests", dependencies: ["WireContract"], swiftSettings: strictSettings),
        .executableTarget(
            name: "CallTreeBenchmark",
            dependencies: ["CallTree"],
            path: "Benchmarks/CallTreeBenchmark",
            swiftSettings: strictSettings
        ),

        // config/plan.yaml: parsed with Yams, validated with file, line and column per problem.
        .target(
            name: "PlanFile",
            dependencies: ["CallTree", .product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PlanFileTests",
            dependencies: ["PlanFile", "CallTree"],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        // The plan's Mustache templates turned into the text of pages, notices and status updates.
        .target(
            name: "Rendering",
            dependencies: ["CallTree", "PlanFile", .product(name: "Mustache", package: "swift-mustache")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RenderingTests",
            dependencies: ["Rendering", "PlanFile", "CallTree"],
            swiftSettings: strictSettings
        ),
        // What the `escalator` commands do, callable from tests: check-config, simulate, and the
        // operator commands publish, reply, watch, incidents, timeline, topology.
        .target(
            name: "EscalatorCLI",
            dependencies: [
                "CallTree", "PlanFile", "Rendering",
                "WireContract", "AMQP", "IncidentStore", "IncidentStoreSQLite", "IncidentStoreSelection", "Worker",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EscalatorCLITests",
            dependencies: [
                "EscalatorCLI", "PlanFile", "Rendering", "CallTree",
                "WireContract", "AMQP", "IncidentStore", "IncidentStoreSQLite", "Worker",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "escalator",
            dependencies: [
                "EscalatorCLI", "PlanFile", "Rendering", "CallTree", "Worker", "WireContract", "AMQP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The incident store: interface and value types, no database.
        .target(name: "IncidentStore", dependencies: ["CallTree", "JSONWriting"], swiftSettings: strictSettings),
        // The embedded default store on SQLite (GRDB).
        .target(
            name: "IncidentStoreSQLite",
            dependencies: [
                "IncidentStore",
                "CallTree",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The store for several hosts on PostgreSQL (postgres-nio): the same behaviour as SQLite.
        .target(
            name: "IncidentStorePostgres",
            dependencies: [
                "IncidentStore",
                "CallTree",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Chooses the store from configuration (`ESCALATOR_STORE`): a SQLite file or a PostgreSQL URL.
        .target(
            name: "IncidentStoreSelection",
            dependencies: [
                "IncidentStore",
                "IncidentStoreSQLite",
                "IncidentStorePostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // A fixture plan and a small worker-like driver shared by the store's tests, its
        // multi-process helper and its benchmark.
        .target(
            name: "IncidentStoreFixtures",
            dependencies: ["IncidentStore", "CallTree"],
            path: "Tests/IncidentStoreFixtures",
            swiftSettings: strictSettings
        ),
        // `escalator worker` as a process of its own, for the end-to-end tests and the worker
        // benchmark, and the short commands tests run (rabbitmqctl, sqlite3, pg_ctl).
        .target(
            name: "EscalatorProcessFixtures",
            path: "Tests/EscalatorProcessFixtures",
            swiftSettings: strictSettings
        ),
        // Applies events to a store file; the multi-process test runs two of it at once.
        .executableTarget(
            name: "store-stress",
            dependencies: ["IncidentStore", "IncidentStoreSQLite", "IncidentStoreFixtures", "CallTree"],
            path: "Tests/StoreStress",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IncidentStoreTests",
            dependencies: [
                "IncidentStore",
                "IncidentStoreSQLite",
                "IncidentStorePostgres",
                "IncidentStoreSelection",
                "IncidentStoreFixtures",
                "EscalatorProcessFixtures",
                "CallTree",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "StoreBenchmark",
            dependencies: [
                "IncidentStore", "IncidentStoreSQLite", "IncidentStorePostgres", "IncidentStoreFixtures", "CallTree",
                "ProcessTimes",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Benchmarks/StoreBenchmark",
            swiftSettings: strictSettings
        ),

        // The worker: consumers, due-time sweep and outbox relay around the call tree and the store.
        .target(
            name: "Worker",
            dependencies: [
                "CallTree", "WireContract", "Rendering", "PlanFile", "IncidentStore", "IncidentStoreSQLite",
                "IncidentStoreSelection", "AMQP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WorkerTests",
            dependencies: [
                "Worker", "CallTree", "WireContract", "Rendering", "PlanFile", "IncidentStore", "IncidentStoreSQLite", "AMQP",
                "EscalatorProcessFixtures",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),

        // rabbitmq-c 0.11 (librabbitmq-dev), imported as is; only the AMQP target (and the raw
        // loop of its benchmark, which measures the floor under it) uses it.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // The AMQP adapter: connections on threads of their own, topology, confirmed publishing,
        // consuming, recovery. Every other target talks to RabbitMQ through it.
        .target(
            name: "AMQP",
            dependencies: [
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AMQPTests",
            dependencies: [
                "AMQP",
                "CRabbitMQ",
                "EscalatorProcessFixtures",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // What the benchmarks read of other processes (the broker's, the worker's CPU time).
        .target(
            name: "ProcessTimes",
            path: "Benchmarks/ProcessTimes",
            swiftSettings: strictSettings
        ),
        // rabbitmq-c without the adapter, for the raw relay and for watching queues.
        .target(
            name: "RawAMQP",
            dependencies: ["AMQP", "CRabbitMQ"],
            path: "Benchmarks/RawAMQP",
            swiftSettings: strictSettings
        ),
        // Relay throughput: raw rabbitmq-c loop against the same relay through the adapter.
        .executableTarget(
            name: "AMQPRelayBenchmark",
            dependencies: [
                "AMQP",
                "CRabbitMQ",
                "ProcessTimes",
                "RawAMQP",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/AMQPRelayBenchmark",
            swiftSettings: strictSettings
        ),
        // End to end (issue #6): one `escalator worker` process under load, timed from outside, with
        // the raw relay above run on the same broker for comparison (scripts/benchmark-worker).
        .executableTarget(
            name: "WorkerBenchmark",
            dependencies: [
                "AMQP", "CallTree", "WireContract", "Worker", "IncidentStore", "IncidentStoreSQLite", "Rendering",
                "EscalatorProcessFixtures", "ProcessTimes", "RawAMQP",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/WorkerBenchmark",
            exclude: ["benchmark-plan.yaml"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
