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
        .library(name: "IncidentStore", targets: ["IncidentStore"]),
        .library(name: "IncidentStoreSQLite", targets: ["IncidentStoreSQLite"]),
    ],
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
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
        // The incident store: interface and value types, no database.
        .target(name: "IncidentStore", dependencies: ["CallTree"], swiftSettings: strictSettings),
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
        // A fixture plan and a small worker-like driver shared by the store's tests, its
        // multi-process helper and its benchmark.
        .target(
            name: "IncidentStoreFixtures",
            dependencies: ["IncidentStore", "CallTree"],
            path: "Tests/IncidentStoreFixtures",
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
                "IncidentStoreFixtures",
                "CallTree",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "StoreBenchmark",
            dependencies: ["IncidentStore", "IncidentStoreSQLite", "IncidentStoreFixtures", "CallTree"],
            path: "Benchmarks/StoreBenchmark",
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
