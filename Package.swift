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
        .library(name: "AMQP", targets: ["AMQP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
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
        .executableTarget(
            name: "CallTreeBenchmark",
            dependencies: ["CallTree"],
            path: "Benchmarks/CallTreeBenchmark",
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
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Relay throughput: raw rabbitmq-c loop against the same relay through the adapter.
        .executableTarget(
            name: "AMQPRelayBenchmark",
            dependencies: [
                "AMQP",
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/AMQPRelayBenchmark",
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
