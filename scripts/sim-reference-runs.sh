#!/usr/bin/env bash
# Runs the simulator's reference scenarios (the runs a speed change must not alter beyond
# rounding: docs/simulator.md, "Comparing runs") with one sim-bench binary, each into its own
# folder, and prints each run's CPU seconds and the load average before and after it.
#
#   scripts/sim-reference-runs.sh BIN OUT_DIR [NAME ...]
#   scripts/sim-reference-runs.sh .build-simbench/release/sim-bench bench-results/ref-new
#   scripts/compare-sim.py bench-results/ref-old/de-nocache-120 bench-results/ref-new/de-nocache-120
#
# Without NAMEs it runs all of them: de-nocache-120 de-nocache-300 de-elastic-120 us-elastic-40
# us-elastic-120 de-hierarchical-60 de-static25-60 de-background-60. Run it under `nice -n 10`
# on the shared machine. DATA is the topology folder (default ../shared/data/topology).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { echo "usage: $0 BIN OUT_DIR [NAME ...]" >&2; exit 2; }
BIN=$1
OUT=$2
shift 2
DATA=${DATA:-../shared/data/topology}
[[ -x "$BIN" ]] || { echo "sim-reference-runs: $BIN is not an executable (build it with scripts/bench-sim.sh)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "sim-reference-runs: needs GNU time (apt-get install time)" >&2; exit 2; }

declare -A RUNS=(
    [de-nocache-120]="--set duration=120 --set caches.mode=none"
    [de-nocache-300]="--set duration=300 --set caches.mode=none"
    [de-elastic-120]="--set duration=120"
    [us-elastic-40]="--set duration=40 --set topology.country=us"
    [us-elastic-120]="--set duration=120 --set topology.country=us"
    [de-hierarchical-60]="--set duration=60 --set caches.mode=hierarchical"
    [de-static25-60]="--set duration=60 --set caches.mode=static --set caches.staticPercent=25 --set caches.instanceGbps=2"
    [de-background-60]="--set duration=60 --set caches.mode=none --set workload.concurrentStreams=30000 --set workload.backgroundStreams=2000"
)
NAMES=("$@")
[[ ${#NAMES[@]} -gt 0 ]] || NAMES=(de-nocache-120 de-nocache-300 de-elastic-120 us-elastic-40 us-elastic-120 de-hierarchical-60 de-static25-60 de-background-60)
for name in "${NAMES[@]}"; do
    [[ -n "${RUNS[$name]:-}" ]] || { echo "sim-reference-runs: unknown run $name" >&2; exit 2; }
    mkdir -p "$OUT/$name"
    before=$(cut -d' ' -f1-3 /proc/loadavg)
    # shellcheck disable=SC2086
    /usr/bin/time -f "%U %S %e %M" -o "$OUT/$name/time.txt" "$BIN" scenarios/scale-de.json --data "$DATA" \
        --out "$OUT/$name" ${RUNS[$name]} > "$OUT/$name/stdout.txt" 2> "$OUT/$name/stderr.txt"
    read -r user sys wall rss < "$OUT/$name/time.txt"
    printf '%s: CPU %.1f s (user %s + sys %s), wall %s s, peak RSS %d MiB, load %s -> %s\n' "$name" \
        "$(echo "$user + $sys" | bc)" "$user" "$sys" "$wall" $((rss / 1024)) "$before" "$(cut -d' ' -f1-3 /proc/loadavg)"
done
