#!/usr/bin/env bash
# How long `minicache serve` itself takes to start, without any backend around it: exec ->
# its --ready-file written (it writes it once its listeners accept), the time its threads spent
# on a CPU by then (from /proc/PID/task/*/schedstat: independent of waiting for a core on a busy
# host), and its PSS once ready. Two rows per binary: as a pull-through cache (--origin, what a
# backend gives an instance) and serving the volume alone (no origin). Each start is on the same
# empty volume with --threads 1, an admin listener and a ready file. Runs alternate between the
# rows and the binaries (A B A B ...), so that a machine getting busier affects them alike.
# Median and minimum of RUNS starts per row. What a sandbox or process start adds on top is in
# `ecdn density` (scripts/bench-density.sh); instructions per start (exact on a busy machine)
# in scripts/count-start-instructions.sh.
#
#   scripts/bench-minicache-start.sh [RUNS] [MINICACHE...]     # default 20 runs
#   scripts/bench-minicache-start.sh 40 /tmp/minicache-before .build-static/release/minicache
#
# MINICACHE (or the MINICACHE variable) defaults to the static release build (.build-static) when
# it exists, else the release build in .build-release; SHFS (to format the volume) to a built
# shfs, else one is built.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
shift || true
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
    if [ -n "${MINICACHE:-}" ]; then binaries=("$MINICACHE")
    elif [ -x .build-static/release/minicache ]; then binaries=(.build-static/release/minicache)
    else binaries=(.build-release/release/minicache); fi
fi
for binary in "${binaries[@]}"; do
    [ -x "$binary" ] || { echo "no minicache executable at $binary; build one (see scripts/bench-density.sh for the static build)" >&2; exit 2; }
done
. scripts/lib/find-shfs.sh
work=$(mktemp -d /tmp/minicache-start.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$shfs" mkfs "$work/volume.shfs" --size 64M >/dev/null
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
python3 - "$work" "$runs" "${binaries[@]}" <<'PY'
import os, statistics, subprocess, sys, time
work, runs, binaries = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
ready = f"{work}/ready"
modes = [("--origin", ["--origin", "http://127.0.0.1:9"]), ("no origin", [])]
results = {(b, m): ([], [], []) for b in binaries for m, _ in modes}

def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))

for i in range(runs):
    for binary in binaries:
        for mode, extra in modes:
            if os.path.exists(ready):
                os.unlink(ready)
            start = time.perf_counter()
            p = subprocess.Popen([binary, "serve", f"{work}/volume.shfs", "--listen", "127.0.0.1:18690", "--admin", "127.0.0.1:18691",
                                  "--ready-file", ready, "--threads", "1"] + extra,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while not os.path.exists(ready):
                if p.poll() is not None:
                    sys.exit(f"{binary} exited with status {p.returncode} before it was ready")
                time.sleep(0.00005)
            wall = (time.perf_counter() - start) * 1000
            cpu = sum(int(open(f"/proc/{p.pid}/task/{t}/schedstat").read().split()[0]) for t in os.listdir(f"/proc/{p.pid}/task")) / 1e6
            pss = pss_kib(p.pid) / 1024
            walls, cpus, psss = results[(binary, mode)]
            walls.append(wall); cpus.append(cpu); psss.append(pss)
            p.terminate()
            p.wait()

width = max(len(b) for b in binaries)
print(f"{'minicache':<{width}}  {'cache':<9}  {'exec -> ready ms':>22}  {'on CPU by then ms':>22}  {'PSS MiB':>8}  starts")
for binary in binaries:
    for mode, _ in modes:
        walls, cpus, psss = results[(binary, mode)]
        print(f"{binary:<{width}}  {mode:<9}  {statistics.median(walls):>9.2f} (min {min(walls):>6.2f})  "
              f"{statistics.median(cpus):>9.2f} (min {min(cpus):>6.2f})  {statistics.median(psss):>8.2f}  {runs}")
PY
