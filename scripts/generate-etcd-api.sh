#!/usr/bin/env bash
# Regenerates Sources/EtcdClient/Generated/ from Protos/etcd/etcd.proto.
#
# Needs protoc (Debian: protobuf-compiler; installed when missing) and the two Swift plugins,
# built once from the versions Package.swift pins into a scratch folder outside the package
# (PLUGINS, default .build-protoc-plugins; a first release build takes ~10 minutes).
# The generated files are committed: a normal build never runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
plugins=${PLUGINS:-$root/.build-protoc-plugins}
out=Sources/EtcdClient/Generated

if ! command -v protoc >/dev/null; then
    apt-get update -qq && apt-get install -y -qq protobuf-compiler
fi

if [ ! -x "$plugins/.build/release/protoc-gen-swift" ] || [ ! -x "$plugins/.build/release/protoc-gen-grpc-swift-2" ]; then
    echo "building protoc-gen-swift and protoc-gen-grpc-swift-2 in $plugins (once; ~10 minutes)" >&2
    mkdir -p "$plugins"
    cat > "$plugins/Package.swift" <<'PACKAGE'
// swift-tools-version:6.1
import PackageDescription
let package = Package(
    name: "protoc-plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
    ],
    targets: []
)
PACKAGE
    (cd "$plugins" && swift build -c release --product protoc-gen-swift && swift build -c release --product protoc-gen-grpc-swift-2)
fi

mkdir -p "$out"
protoc \
    --plugin=protoc-gen-swift="$plugins/.build/release/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift="$plugins/.build/release/protoc-gen-grpc-swift-2" \
    --swift_out="$out" --swift_opt=Visibility=Package \
    --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Package,Server=false,Client=true \
    -I Protos/etcd Protos/etcd/etcd.proto
echo "generated: $(ls "$out" | tr '\n' ' ')"
