#!/usr/bin/env bash
# Density: start N cache instances of one backend at once on this host, check each answers a
# request, stop them all (`ecdn density`). Prints the machine and its load, progress, a table
# (time to all ready, PSS and host memory per instance, starts per second, spawn -> ready of one
# instance on the idle host, worst stall of a sleeping thread, stop time) and as its last line:
#   serving S/N; pss_per_instance_mib X; starts_per_s Y; spawn_to_ready_p50_ms Z
#
#   scripts/bench-density.sh N BACKEND          # BACKEND: process, sandbox, oci or microvm (all but process need root)
#   MINICACHE=.build-static/release/minicache scripts/bench-density.sh 1000 sandbox
#   SINGLE_STARTS=1 scripts/bench-density.sh 10 microvm   # microVMs boot for seconds under TCG
#
# ecdn is a release build in .build-release; minicache defaults to the static release build in
# .build-static when it exists (the one to ship), else the release build next to ecdn. Build the
# static one once (slow):
#   swift build -c release --product minicache --static-swift-stdlib -Xswiftc -static-executable --scratch-path .build-static
# With BUILD=1 (the default) the static build is brought up to date too when it exists. A
# minicache under .build*/ older than its sources (a file of the modules it is built from or
# Package.swift written since it was linked: an edit, a merge or a checkout) is refused with the
# command that rebuilds it: figures of a stale binary are not this tree's. STALE_OK=1
# runs it anyway (say so with the figures); a MINICACHE outside .build*/ (e.g. an older build kept
# for comparison) is only reported.
# Environment: MINICACHE, STALE_OK, SINGLE_STARTS (20), CONCURRENCY (64), JSON (a file for the report),
# SCRATCH (.build-release), BUILD (0: run the binaries already built, e.g. on a machine kept
# quiet for the measurement), PREPARED_NETWORKS (sandbox: namespaces made ahead; ecdn's default),
# MOUNT_TEMPLATE (sandbox: 0 makes each instance copy the host's mounts and pivot, as before the
# template mount namespace), SPAWN_THREADS (sandbox: threads that clone at once; ecdn's default).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
    echo "usage: $0 N process|sandbox|oci|microvm" >&2
    exit 2
fi
n=$1
backend=$2
scratch=${SCRATCH:-.build-release}

if [ "${BUILD:-1}" = 1 ]; then
    swift build -c release --scratch-path "$scratch" --product ecdn >/dev/null
    swift build -c release --scratch-path "$scratch" --product minicache >/dev/null
fi
static_build="swift build -c release --product minicache --static-swift-stdlib -Xswiftc -static-executable --scratch-path .build-static"
if [ "${BUILD:-1}" = 1 ] && [ -z "${MINICACHE:-}" ] && [ -x .build-static/release/minicache ]; then
    echo "bringing the static minicache up to date: $static_build" >&2
    $static_build >/dev/null
fi
bin=$scratch/release
minicache=${MINICACHE:-}
if [ -z "$minicache" ]; then
    if [ -x .build-static/release/minicache ]; then minicache=.build-static/release/minicache; else minicache=$bin/minicache; fi
fi
# What minicache is built from (Package.swift: the minicache target and its modules).
minicache_sources=(Package.swift Sources/minicache Sources/MiniCacheServer Sources/HTTPToolkit Sources/SHFS Sources/CacheEviction)
# Refuses (exit 3) a minicache of this tree that is older than its sources, saying how to rebuild it.
check_fresh() {
    local binary=$1 rebuild=$2 newer reason
    newer=$(find "${minicache_sources[@]}" -newer "$binary" -type f -print -quit 2>/dev/null || true)
    [ -z "$newer" ] && return 0
    reason="$newer was written after it was built ($(date -u -r "$binary" +%FT%TZ))"
    case "$binary" in
    .build*/* | */.build*/*) ;;
    *)
        echo "note: $binary is not a build of this tree; $reason" >&2
        return 0
        ;;
    esac
    if [ "${STALE_OK:-0}" = 1 ]; then
        echo "warning: STALE_OK=1: measuring $binary although $reason" >&2
        return 0
    fi
    echo "refusing a stale $binary: $reason. Rebuild it first:" >&2
    echo "    $rebuild" >&2
    echo "(or STALE_OK=1 to measure it anyway, e.g. an older build on purpose)" >&2
    exit 3
}
[ -x "$bin/ecdn" ] || { echo "no $bin/ecdn: build it (swift build -c release --scratch-path $scratch --product ecdn) or run with BUILD=1" >&2; exit 2; }
[ -x "$minicache" ] || { echo "no minicache at $minicache: build it or run with BUILD=1" >&2; exit 2; }
case "$minicache" in
.build-static/*) check_fresh "$minicache" "$static_build" ;;
*) check_fresh "$minicache" "swift build -c release --scratch-path $scratch --product minicache" ;;
esac

echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, kernel $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
scripts/package-versions.sh
echo "minicache: $minicache ($(file -b "$minicache" 2>/dev/null | grep -oE 'static(-pie)?[ -]linked|dynamically linked' || echo unknown))"
args=("$n" --backend "$backend" --minicache "$minicache" --single-starts "${SINGLE_STARTS:-20}" --concurrency "${CONCURRENCY:-64}")
[ -n "${JSON:-}" ] && args+=(--json "$JSON")
[ -n "${PREPARED_NETWORKS:-}" ] && args+=(--prepared-networks "$PREPARED_NETWORKS")
[ "${MOUNT_TEMPLATE:-1}" = 0 ] && args+=(--no-mount-template)
[ -n "${SPAWN_THREADS:-}" ] && args+=(--spawn-threads "$SPAWN_THREADS")
exec "$bin/ecdn" density "${args[@]}"
