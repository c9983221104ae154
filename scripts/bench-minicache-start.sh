#!/usr/bin/env bash
# How long `minicache serve` itself takes to start, without any backend around it: exec ->
# its --ready-file written (it writes it once its listeners accept), and the time its threads
# spent on a CPU by then (from /proc/PID/task/*/schedstat: independent of waiting for a core on
# a busy host). Median and minimum of RUNS starts, each on the same empty volume, with the
# arguments a backend gives an instance (--threads 1, admin listener, origin, ready file).
# What a sandbox or process start adds on top is in `ecdn density` (scripts/bench-density.sh).
#
#   scripts/bench-minicache-start.sh [RUNS]          # default 20
#   MINICACHE=.build-release/release/minicache scripts/bench-minicache-start.sh
#
# MINICACHE defaults to the static release build (.build-static) when it exists, else the
# release build in .build-release; SHFS (to format the volume) to a built shfs, else one is built.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
minicache=${MINICACHE:-}
if [ -z "$minicache" ]; then
    if [ -x .build-static/release/minicache ]; then minicache=.build-static/release/minicache; else minicache=.build-release/release/minicache; fi
fi
shfs=${SHFS:-}
if [ -z "$shfs" ]; then
    for candidate in .build-release/release/shfs .build/debug/shfs; do [ -x "$candidate" ] && shfs=$candidate && break; done
fi
if [ -z "$shfs" ]; then
    swift build --product shfs >/dev/null
    shfs=.build/debug/shfs
fi
work=$(mktemp -d /tmp/minicache-start.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$shfs" mkfs "$work/volume.shfs" --size 64M >/dev/null
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); minicache: $minicache"
python3 - "$minicache" "$work" "$runs" <<'PY'
import os, statistics, subprocess, sys, time
minicache, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
ready = f"{work}/ready"
walls, cpus = [], []
for i in range(runs):
    if os.path.exists(ready):
        os.unlink(ready)
    start = time.perf_counter()
    p = subprocess.Popen([minicache, "serve", f"{work}/volume.shfs", "--listen", "127.0.0.1:18690", "--admin", "127.0.0.1:18691",
                          "--ready-file", ready, "--origin", "http://127.0.0.1:9", "--threads", "1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(ready):
        if p.poll() is not None:
            sys.exit(f"minicache exited with status {p.returncode} before it was ready")
        time.sleep(0.00005)
    walls.append((time.perf_counter() - start) * 1000)
    cpus.append(sum(int(open(f"/proc/{p.pid}/task/{t}/schedstat").read().split()[0]) for t in os.listdir(f"/proc/{p.pid}/task")) / 1e6)
    p.terminate()
    p.wait()
print(f"minicache exec -> ready: wall median {statistics.median(walls):.2f} ms (min {min(walls):.2f}); "
      f"on CPU by then median {statistics.median(cpus):.2f} ms (min {min(cpus):.2f}); {runs} starts")
PY
