#!/usr/bin/env bash
# Measures the live elastic CDN (issue 6):
#  1. cold start: time from the first request at a cold site to that site's new cache answering,
#     with where the time goes (volume, fork+exec, minicache start-up, ready-file poll, router);
#  2. elastic vs fixed deployment on the same viewers (a trace written by the simulator and
#     replayed by `ecdn load`): origin offload, viewer QoE, instance-seconds;
#  3. the simulator's prediction for the same scenario, side by side.
#   scripts/measure-ecdn.sh                  # release build; results in out/ecdn-measure/
#   CONFIG=debug TRIALS=5 scripts/measure-ecdn.sh
#   BACKEND=sandbox COLD_ONLY=1 scripts/measure-ecdn.sh   # part 1 only, caches in sandboxes (root)
#   MINICACHE=.build-static/release/minicache ...        # another minicache (e.g. the static build)
#   BUILD=0 ...                                          # run the binaries already built, no swift build
# The machine's cores are shared with whatever else runs: report the load average with figures.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
CONFIG=${CONFIG:-release}
TRIALS=${TRIALS:-10}
IDLE=${IDLE:-30}
BACKEND=${BACKEND:-process}
OUT=${OUT:-out/ecdn-measure}
mkdir -p "$OUT"

if [ "${BUILD:-1}" = 1 ]; then
  swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product minicache >/dev/null
  swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product ecdn >/dev/null
fi
BIN=$SCRATCH/$CONFIG
if ! "$BIN/minicache" serve --help 2>&1 | grep -q -- '--origin'; then
  echo "note: this minicache has no --origin (pull-through caching): caches start and stop, but cannot fill,"
  echo "      so in part 2 viewers sent to caches get 404 — only instance-seconds and routing are meaningful."
fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), build $CONFIG, backend $BACKEND, $(date -u +%FT%TZ)"
scripts/package-versions.sh

UP_PID=
stop_up() { if [ -n "$UP_PID" ]; then kill -TERM "$UP_PID" 2>/dev/null || true; wait "$UP_PID" 2>/dev/null || true; UP_PID=; fi; }
trap stop_up EXIT
start_up() { # name octet sites extra-args...
  local name=$1 octet=$2 sites=$3; shift 3
  "$BIN/ecdn" up --minicache "${MINICACHE:-$BIN/minicache}" --backend "$BACKEND" --single-tenant --router-port 0 --api-port 0 --origin-port 0 --first-site-octet "$octet" --sites "$sites" \
    --idle-timeout "$IDLE" --log-level info --work-dir "$OUT/$name-work" "$@" >"$OUT/$name-up.txt" 2>"$OUT/$name-up.log" &
  UP_PID=$!
  for _ in $(seq 200); do grep -q '^origin: ' "$OUT/$name-up.txt" 2>/dev/null && break; sleep 0.05; done
  ROUTER=$(sed -n 's/^router: //p' "$OUT/$name-up.txt")
  API=$(sed -n 's/^api: //p' "$OUT/$name-up.txt")
  ORIGIN=$(sed -n 's/^origin: //p' "$OUT/$name-up.txt")
  [ -n "$ORIGIN" ] || { echo "ecdn up failed; see $OUT/$name-up.log" >&2; exit 1; }
}

echo
echo "== 1. cold start: first request at a cold site -> its new cache answering ($TRIALS sites) =="
start_up cold 71 "$TRIALS"
sleep 1
printf '%-6s %12s %12s %12s %12s\n' site "302 (ms)" "cache (ms)" "total (ms)" "warm 302"
for k in $(seq 0 $((TRIALS - 1))); do
  ip=127.0.$((71 + k)).5
  cold=$(curl -s -o /dev/null --interface "$ip" -w '%{time_total}' "$ROUTER/live/1/index.m3u8")
  loc=$(curl -s -o /dev/null --interface "$ip" -w '%{redirect_url}' "$ROUTER/live/1/index.m3u8")
  cache=$(curl -s -o /dev/null --interface "$ip" -w '%{time_total}' "$loc")
  warm=$(curl -s -o /dev/null --interface "$ip" -w '%{time_total}' "$ROUTER/live/1/index.m3u8")
  printf '%-6s %12.1f %12.1f %12.1f %12.1f\n' "site$((k + 1))" "$(echo "$cold*1000" | bc -l)" "$(echo "$cache*1000" | bc -l)" \
    "$(echo "($cold+$cache)*1000" | bc -l)" "$(echo "$warm*1000" | bc -l)" | tee -a "$OUT/cold.txt"
  sleep 0.3
done
curl -s "$API/instances" >"$OUT/cold-instances.json"
python3 - "$OUT/cold-instances.json" "$OUT/cold-up.log" "$OUT/cold-work" <<'PY'
import json, re, sys, glob, statistics as st
inst = json.load(open(sys.argv[1]))
boot = [i["bootMilliseconds"] for i in inst if i.get("bootMilliseconds") is not None]
log = open(sys.argv[2]).read()
vol = [float(x) for x in re.findall(r"volume\.ms=([\d.]+)", log)]
spawn = [float(x) for x in re.findall(r"spawn\.ms=([\d.]+)", log)]
start = []
for f in glob.glob(sys.argv[3] + "/*/*.log"):
    m = re.search(r"startup\.ms=([\d.]+)", open(f).read())
    if m: start.append(float(m.group(1)))
def line(name, xs):
    if xs: print(f"  {name:44s} median {st.median(xs):7.1f} ms  (min {min(xs):.1f}, max {max(xs):.1f}, n={len(xs)})")
print("where the time goes (per instance):")
line("volume: spare renamed (or formatted if none)", vol)
line("fork + exec / sandbox clone + set-up + exec (spawner thread)", spawn)
line("minicache: process start -> accepting (its log)", start)
line("spawned -> ready file seen (incl. minicache start-up)", boot)
PY
stop_up
[ "${COLD_ONLY:-0}" = 1 ] && exit 0

echo
echo "== 2. elastic vs fixed on the same viewers; 3. the simulator on the same scenario =="
cat >"$OUT/scenario.json" <<'JSON'
{
  "version": 1,
  "description": "The live measurement's scenario: 3 access ASes (sites), 1 live channel at 2.5 Mb/s, viewers for 90 s.",
  "defaults": {
    "seed": 7, "duration": 130, "sampleInterval": 5,
    "topology": { "synthetic": { "kind": "tree", "fanout": 3, "depth": 1 } },
    "workload": { "mode": "live", "channels": 1, "bitratesMbps": [2.5], "bitrateIndexMean": 0,
                  "viewTime": [20, 30, 40], "rate": 0.6, "profile": [[0, 0.6], [45, 0.2], [90, 0]], "warmStart": false },
    "player": { "startupBuffer": 4, "maxBuffer": 12 }
  },
  "scenarios": [
    { "name": "elastic", "caches": { "mode": "elastic", "bootTime": 0.03, "idleTimeout": 30 } },
    { "name": "fixed", "caches": { "mode": "static", "staticPercent": 100 } }
  ]
}
JSON
"$BIN/ecdn" simulate "$OUT/scenario.json" --out "$OUT/sim" --trace "$OUT/trace.csv" --quiet --no-progress
echo "trace: $(($(wc -l <"$OUT/trace.csv") - 1)) viewers ($OUT/trace.csv)"

for mode in elastic fixed; do
  octet=$([ "$mode" = elastic ] && echo 91 || echo 95)
  start_up "$mode" "$octet" 3 --mode "$mode"
  sleep 2
  before=$(curl -s "$ORIGIN/status")
  sum_before=$(curl -s "$API/summary")
  "$BIN/ecdn" load --router "$ROUTER" --sites "127.0.$octet.0/24,127.0.$((octet + 1)).0/24,127.0.$((octet + 2)).0/24" \
    --trace "$OUT/trace.csv" --channels 1 --bitrate 2500000 --json "$OUT/$mode-load.json" >"$OUT/$mode-load.txt" 2>/dev/null
  after=$(curl -s "$ORIGIN/status")
  curl -s "$API/summary" >"$OUT/$mode-summary.json"
  echo "$sum_before" >"$OUT/$mode-summary-before.json"
  echo "$before" >"$OUT/$mode-origin-before.json"
  echo "$after" >"$OUT/$mode-origin-after.json"
  curl -s "$API/events?limit=500" >"$OUT/$mode-events.json"
  stop_up
done

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
sim = {s["name"]: s for s in json.load(open(f"{out}/sim/summary.json"))}
rows = []
for mode in ("elastic", "fixed"):
    load = json.load(open(f"{out}/{mode}-load.json"))
    o0 = json.load(open(f"{out}/{mode}-origin-before.json")); o1 = json.load(open(f"{out}/{mode}-origin-after.json"))
    s0 = json.load(open(f"{out}/{mode}-summary-before.json")); s1 = json.load(open(f"{out}/{mode}-summary.json"))
    origin = o1["bytes"] - o0["bytes"]
    viewer = load["bytes"]
    rows.append((mode, "live", load["viewers"], load.get("startupDelayP50"), load.get("startupDelayP95"),
                 load["bufferingRatioMean"], origin, viewer, 1 - origin / viewer if viewer else None,
                 s1["instanceSeconds"] - s0["instanceSeconds"], s1["instanceStarts"], load["withErrors"]))
    s = sim[mode]
    vb = s.get("viewer_bytes") or (s["origin_egress_bytes"] + s["cache_served_bytes"])
    rows.append((mode, "simulated", s["viewers"], s["startup_delay_p50_s"], s["startup_delay_p95_s"], s["buffering_ratio_mean"],
                 s["origin_egress_bytes"], vb, 1 - s["origin_egress_bytes"] / vb if vb else None, s["instance_seconds"], s.get("instance_starts"), 0))
def f(x, fmt):
    return "–" if x is None else fmt.format(x)
print(f"{'deployment':10s} {'source':9s} {'viewers':>7s} {'start p50':>9s} {'start p95':>9s} {'buf ratio':>9s} {'origin MB':>9s} {'viewer MB':>9s} {'offload':>8s} {'inst-s':>7s} {'starts':>6s} {'errors':>6s}")
for r in rows:
    print(f"{r[0]:10s} {r[1]:9s} {r[2]:7d} {f(r[3], '{:8.2f}s'):>9s} {f(r[4], '{:8.2f}s'):>9s} {r[5]:9.4f} {r[6]/1e6:9.1f} {r[7]/1e6:9.1f} {f(r[8], '{:7.1%}'):>8s} {r[9]:7.0f} {f(r[10], '{:d}'):>6s} {r[11]:6d}")
json.dump(rows, open(f"{out}/comparison.json", "w"), indent=1)
PY
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
