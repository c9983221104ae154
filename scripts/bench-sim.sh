#!/usr/bin/env bash
# Benchmark of the simulator at country scale: builds Benchmarks/SimBench in release mode (the
# simulator of `ecdn simulate` without the rest of ecdn, so it builds in minutes), runs
# scenarios/scale-de.json (Germany, 1,000,000 hosts, 100,000 concurrent streams, 30 simulated
# minutes, elastic caches) on one core and prints events/s, the simulated/wall-clock ratio, CPU
# time and peak RSS.
#
#   scripts/bench-sim.sh                      # scale-de, elastic caches
#   scripts/bench-sim.sh --set caches.mode=none --set name=scale-de-no-cache
#   scripts/bench-sim.sh --set topology.country=us --set name=scale-us
#   scripts/bench-sim.sh --set workload.concurrentStreams=1000000 --set name=scale-de-1m
#
# Last figures (docs/simulator.md, Figures, tenth round; release build, CPU seconds on the
# shared 2-core machine, b4de697 (ninth round) against this simulator alternating in the same
# minutes, results equal within rounding per scripts/compare-sim.py): US elastic 30 minutes
# (--set topology.country=us) 73.2 -> 28.9 CPU-s on the quiet machine (medians of three
# alternating runs at load 0.7-1.0, 2.5x, 62x simulated seconds per CPU-second: goal >= 50x
# met; 51x at load 7); US elastic 120 s 4.9 -> 1.7 CPU-s
# (medians, load 2.5-3.3, about 0.9 CPU-s of it loading and warm start). de no caches 300 s
# 2.5 CPU-s (120x, goal met). 1,000,000 streams for 30 minutes: 117.9 CPU-s, 1 min 58 s wall,
# peak RSS 463 MiB on the quiet machine (goal <= 10 minutes and 8 GB met).
#
# Extra arguments are `--set key.path=value` overrides. Environment: DATA (topology folder,
# default ../shared/data/topology), SCRATCH (build folder, default .build-simbench), OUT
# (default bench-results/sim), BUILD_ONLY=1 (build, print the binary's path and stop).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-$PWD/.build-simbench}
OUT=${OUT:-bench-results/sim}
DATA=${DATA:-../shared/data/topology}
[[ -f "$DATA/as_links.tsv" ]] || { echo "bench-sim: no topology data in $DATA (set DATA=...)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench-sim: needs GNU time (apt-get install time)" >&2; exit 1; }

# SwiftPM plans an incremental build of a path dependency from the file list it saw last
# (release.yaml): a source file added to or removed from the package would be left out of the
# build. Plan again whenever the list of sources or the manifest changed.
SIGNATURE=$( (find Sources -type f | LC_ALL=C sort; cat Package.swift Benchmarks/SimBench/Package.swift) | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$SCRATCH/sources.sig" 2>/dev/null)" != "$SIGNATURE" ]]; then
    rm -f "$SCRATCH/release.yaml" "$SCRATCH/release/description.json"
fi
swift build -c release --package-path Benchmarks/SimBench --scratch-path "$SCRATCH" >&2
mkdir -p "$SCRATCH"
echo "$SIGNATURE" > "$SCRATCH/sources.sig"
[[ -z "${BUILD_ONLY:-}" ]] || { echo "$SCRATCH/release/sim-bench"; exit 0; }
BIN="$SCRATCH/release/sim-bench"
mkdir -p "$OUT"
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
scripts/package-versions.sh
/usr/bin/time -v -o "$OUT/time.txt" "$BIN" scenarios/scale-de.json --data "$DATA" --out "$OUT" "$@" > "$OUT/stdout.txt"
cat "$OUT/stdout.txt"
python3 - "$OUT/summary.json" "$OUT/time.txt" <<'PY'
import json, re, sys
summary = json.load(open(sys.argv[1]))
timing = open(sys.argv[2]).read()
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing).group(1))
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", timing).group(1)
cpu = float(re.search(r"User time \(seconds\): (\S+)", timing).group(1)) + float(re.search(r"System time \(seconds\): (\S+)", timing).group(1))
share = re.search(r"Percent of CPU this job got: (\S+)", timing).group(1)
for s in summary:
    print(f"{s['name']}: {s['events']:,} events in {s['wall_seconds']:.1f} s simulation wall time "
          f"= {s['events_per_second']:,.0f} events/s; {s['simulated_seconds']:.0f} s simulated, "
          f"sim/wall {s['sim_wall_ratio']:.1f}x; {s['viewers']:,} arrivals + {s['warm_start_viewers']:,} warm-start viewers")
print(f"process: wall {wall}, CPU {cpu:.1f} s ({share} of one core: the machine is shared), "
      f"peak RSS {rss_kb / 1024:.0f} MiB (incl. topology load and reports)")
PY
