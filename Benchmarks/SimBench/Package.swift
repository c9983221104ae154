// swift-tools-version:6.1
import PackageDescription

// A release benchmark of the simulator that builds only ElasticSim and what it needs (no data
// plane or control plane): `scripts/bench-sim.sh` runs it.
let package = Package(
    name: "SimBench",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "MiniCache", path: "../..")],
    targets: [
        .executableTarget(name: "sim-bench", dependencies: [.product(name: "ElasticSim", package: "MiniCache")])
    ]
)
