// swift-tools-version:6.1
import PackageDescription

// Module map: ../shared/DESIGN.md. The data plane (SHFS, MiniCacheServer, minicache) links no
// full Foundation; the control plane and the simulator may.

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "MiniCache",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "shfs", targets: ["shfs"]),
        .executable(name: "minicache", targets: ["minicache"]),
        .executable(name: "ecdn", targets: ["ecdn"]),
        .library(name: "SHFS", targets: ["SHFS"]),
        .library(name: "HTTPToolkit", targets: ["HTTPToolkit"]),
        .library(name: "MiniCacheServer", targets: ["MiniCacheServer"]),
        .library(name: "ElasticPolicy", targets: ["ElasticPolicy"]),
        .library(name: "ElasticSim", targets: ["ElasticSim"]),
        .library(name: "ElasticControl", targets: ["ElasticControl"]),
        .library(name: "EtcdClient", targets: ["EtcdClient"]),
        .library(name: "MediaOrigin", targets: ["MediaOrigin"]),
        .library(name: "PlayerLoad", targets: ["PlayerLoad"]),
    ],
    // Versions: the libraries on the hot path and those the generated etcd code was made with are
    // pinned to one minor version (swift-nio exactly), so two clones build the same code without
    // a committed Package.resolved (the package mirror's revisions are its own); PinTests checks
    // it and the benchmark scripts print what was resolved (scripts/package-versions.sh).
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", .upToNextMinor(from: "1.6.0")),
        .package(url: "https://github.com/apple/swift-crypto", .upToNextMinor(from: "4.5.2")),
        .package(url: "https://github.com/apple/swift-log", .upToNextMinor(from: "1.16.2")),
        .package(url: "https://github.com/apple/swift-metrics", .upToNextMinor(from: "2.13.0")),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", .upToNextMinor(from: "2.37.6")),
        .package(url: "https://github.com/apple/swift-nio-http2", .upToNextMinor(from: "1.46.0")),
        .package(url: "https://github.com/apple/swift-certificates", .upToNextMinor(from: "1.21.1")),
        .package(url: "https://github.com/apple/swift-asn1", .upToNextMinor(from: "1.7.4")),
        .package(url: "https://github.com/apple/swift-system", .upToNextMinor(from: "1.8.1")),
        .package(url: "https://github.com/swift-server/swift-prometheus", .upToNextMinor(from: "2.4.1")),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", .upToNextMinor(from: "2.13.0")),
        // etcd's gRPC API (EtcdClient); Sources/EtcdClient/Generated comes from these versions' plugins.
        .package(url: "https://github.com/grpc/grpc-swift-2", .upToNextMinor(from: "2.4.3")),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", .upToNextMinor(from: "2.9.2")),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", .upToNextMinor(from: "2.4.1")),
        .package(url: "https://github.com/apple/swift-protobuf", .upToNextMinor(from: "1.39.0")),
    ],
    targets: [
        // CLinuxCalls: Linux calls the data plane links directly (not declared by the C library's
        // Swift module; a run-time lookup finds nothing in the static minicache).
        .target(name: "CLinuxCalls", cSettings: [.define("_GNU_SOURCE")]),
        // MARK: SHFS — object store and the `shfs` tool (issue 2)
        .target(
            name: "SHFS",
            dependencies: [
                "CLinuxCalls",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "shfs",
            dependencies: [
                "SHFS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // SHFSTests runs the real `shfs` binary (crash and reader-process tests), so it depends on it.
        .testTarget(name: "SHFSTests", dependencies: ["SHFS", "shfs", "MiniCacheTesting"], swiftSettings: swiftSettings),

        // MARK: CacheEviction — the eviction policies the cache and the simulator both run
        .target(
            name: "CacheEviction",
            dependencies: [.product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "CacheEvictionTests", dependencies: ["CacheEviction", "Workload"], swiftSettings: swiftSettings),

        // MARK: HTTPToolkit — what the data plane and the control plane share (issue 10)
        .target(
            name: "HTTPToolkit",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HTTPToolkitTests",
            dependencies: [
                "HTTPToolkit",
                "MiniCacheTesting",
                "SHFS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // Reads the package graph (swift package dump-package) and fails on an edge DESIGN.md forbids
        // or a hot-path dependency that is not pinned; docs/architecture.md describes the rules.
        .testTarget(name: "PackageGraphTests", dependencies: ["MiniCacheTesting"], swiftSettings: swiftSettings),

        // MARK: MiniCacheServer — the HTTP data plane and `minicache` (issue 3)
        .target(
            name: "MiniCacheServer",
            dependencies: [
                "CLinuxCalls",
                "SHFS",
                "CacheEviction",
                "HTTPToolkit",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "minicache",
            dependencies: [
                "MiniCacheServer",
                "HTTPToolkit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MiniCacheServerTests",
            dependencies: [
                "MiniCacheServer",
                "HTTPToolkit",
                "CacheEviction",
                "SHFS",
                "minicache",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOTLS", package: "swift-nio"),
                "LocalCA",
                "MallocCounter",
                "MiniCacheTesting",
            ],
            swiftSettings: swiftSettings
        ),
        // Makes a local certificate authority and server certificates (ECDSA P-256) for demos and
        // tests; the data plane itself only loads PEM files.
        .target(
            name: "LocalCA",
            dependencies: [
                "HTTPToolkit",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the tests share: one async HTTP/1.1 test client and one scriptable origin, on real
        // sockets (issue 10).
        .target(
            name: "MiniCacheTesting",
            dependencies: [
                "TestRunWidth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/MiniCacheTesting",
            swiftSettings: swiftSettings
        ),
        // Bounds how many tests Swift Testing runs at once to one per core (a constructor that sets
        // SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH before the test executable starts, unless
        // it is set): linked into the tests through MiniCacheTesting.
        .target(name: "TestRunWidth", path: "Tests/TestRunWidth"),
        // Counts the heap allocations of one thread, for MiniCacheServerTests' allocation tests
        // (its malloc family takes the C library's place in the test executable).
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),

        // MARK: ElasticPolicy + ElasticSim — decisions and the simulator (issue 4)
        .target(name: "ElasticPolicy", swiftSettings: swiftSettings),
        // Seeded randomness and popularity draws shared by the simulator and the load generator.
        .target(name: "Workload", swiftSettings: swiftSettings),
        .testTarget(name: "WorkloadTests", dependencies: ["Workload"], swiftSettings: swiftSettings),
        .target(
            name: "ElasticSim",
            dependencies: [
                "CacheEviction",
                "ElasticPolicy",
                "Workload",
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ecdn",
            dependencies: [
                "HTTPToolkit",
                "ElasticSim",
                "ElasticControl",
                "EtcdClient",
                "LocalCA",
                "MediaOrigin",
                "PlayerLoad",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "ElasticPolicyTests", dependencies: ["ElasticPolicy"], swiftSettings: swiftSettings),
        .testTarget(name: "ElasticSimTests", dependencies: ["ElasticSim", "Workload"], exclude: ["Fixtures"], swiftSettings: swiftSettings),

        // MARK: EtcdClient — etcd v3 over gRPC for the distributed control plane (issue 11)
        .target(
            name: "EtcdClient",
            dependencies: [
                "HTTPToolkit",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),

        // Measurements of the distributed control plane (scripts/measure-distributed.sh); not a product.
        .executableTarget(
            name: "cluster-bench",
            dependencies: [
                "ElasticControl",
                "EtcdClient",
                "HTTPToolkit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: ElasticControl — the live control plane behind `ecdn up` (issue 6)
        // CSandbox: what the sandbox backend runs between clone and execve (issue 12).
        .target(name: "CSandbox", cSettings: [.define("_GNU_SOURCE")]),
        // What a tenant's code could try inside a sandbox; the sandbox tests run it there.
        .executableTarget(name: "sandbox-probe", cSettings: [.define("_GNU_SOURCE")]),
        .target(
            name: "ElasticControl",
            dependencies: [
                "HTTPToolkit",
                "CSandbox",
                "ElasticPolicy",
                "SHFS",
                .product(name: "Crypto", package: "swift-crypto"),
                "EtcdClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The tests start real `minicache` and `ecdn` children, so they depend on both executables.
        .testTarget(
            name: "ElasticControlTests",
            dependencies: [
                "HTTPToolkit",
                "ElasticControl",
                "LocalCA",
                "ElasticPolicy",
                "EtcdClient",
                "MediaOrigin",
                "PlayerLoad",
                "ecdn",
                "minicache",
                "sandbox-probe",
                "MiniCacheTesting",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tools around the control plane: the demo origin and player-like viewers
        .target(
            name: "MediaOrigin",
            dependencies: [
                "HTTPToolkit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PlayerLoad",
            dependencies: [
                "HTTPToolkit",
                "Workload",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
