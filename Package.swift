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
    ],
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
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
        .target(
            name: "WireContract",
            dependencies: ["CallTree", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "WireContractTests", dependencies: ["WireContract"], swiftSettings: strictSettings),
        .executableTarget(
            name: "CallTreeBenchmark",
            dependencies: ["CallTree"],
            path: "Benchmarks/CallTreeBenchmark",
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
