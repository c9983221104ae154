#!/usr/bin/env bash
# Measures the distributed control plane (docs/distributed.md). Every figure is printed with the
# load average at that moment: on a shared machine, read the figures with it.
#   1. router decisions on a SITES x TENANTS view fed by an etcd watch:
#      a. in process (cluster-bench router): ClusterRouter.route at RATE decisions/s
#      b. over HTTP: a real `ecdn router` on core 0, h2load at RATE requests/s on core 1; the same
#         load against nginx answering a fixed 302 on core 0 (the cost of any HTTP redirect)
#   2. leader planning rate with SITES x TENANTS in the store
#   3. etcd writes per viewer arrival (demand is batched per site per tick)
#   4. the multi-host test bed (root): leader fail-over (kill -9 of the leader until the other
#      controller answers /api/leader as leader), kill -9 of an etcd member, a site cut off (veth
#      down until routers send its new viewers elsewhere), router restart (kill -9, start, until
#      it redirects a viewer to a cache); during each, 10 viewers that retry a failed fetch once
#      through the next router count the errors a viewer would have seen
# Usage: scripts/measure-distributed.sh            (CONFIG=release|debug, SCRATCH=.build-release,
#        TRIALS=3, SITES=1000, TENANTS=10, RATE=10000, PARTS=1234 (which parts run), BED=1 for
#        part 4; BIN=DIR uses binaries built already, e.g. BIN=.build/debug after swift build --build-tests;
#        ROUTER_ARGS="--threads 2" adds arguments to the `ecdn router` of part 1b)
# Needs: etcd-server, nginx, nghttp2-client (h2load), python3, taskset; installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-release}
SCRATCH=${SCRATCH:-.build-release}
TRIALS=${TRIALS:-3}
SITES=${SITES:-1000}
TENANTS=${TENANTS:-10}
RATE=${RATE:-10000}
BED=${BED:-1}
PARTS=${PARTS:-1234}

missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v nginx >/dev/null || missing+=(nginx)
command -v h2load >/dev/null || missing+=(nghttp2-client)
[ ${#missing[@]} -eq 0 ] || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
load() { echo "load $(cut -d' ' -f1-3 /proc/loadavg)"; }
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, $(load), config ${BIN:-$CONFIG}"
scripts/package-versions.sh
if [ -n "${BIN:-}" ]; then
    bin=$BIN
else
    swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product ecdn >&2
    swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product minicache >&2
    swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product cluster-bench >&2
    bin=$(swift build -c "$CONFIG" --scratch-path "$SCRATCH" --show-bin-path)
fi

work=$(mktemp -d /tmp/measure-distributed.XXXXXX)
# Four consecutive ports free now (etcd client and peer, the router, nginx), below the kernel's
# ephemeral range so that no outgoing connection takes one meanwhile.
port=$(python3 -c '
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(1000):
    base = random.randrange(10000, low - 4)
    try:
        for p in range(base, base + 4):
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", p)); s.close()
    except OSError:
        continue
    print(base); break
else:
    raise SystemExit("no four free consecutive ports on 127.0.0.1")
')
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
    [ "$BED" = 1 ] && [ "$(id -u)" -eq 0 ] && "$bin/ecdn" testbed down --name ecdnm >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
# etcd on the load generator's core: it only answers the router's first list and watch.
taskset -c 1 etcd --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$((port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
    --initial-cluster "default=http://127.0.0.1:$((port + 1))" --quota-backend-bytes $((2 << 30)) --log-level error >"$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/health" | grep -q true && break; sleep 0.1; done
store="etcd://127.0.0.1:$port"

if [[ $PARTS == *1* ]]; then
echo "## 1a. router decisions in process, $SITES sites x $TENANTS tenants from a watch ($(load))"
taskset -c 1 "$bin/cluster-bench" router --store "$store" --sites "$SITES" --tenants "$TENANTS" --rate "$RATE" --seconds 10

# h2load's per-request log: start (us since the epoch), status, microseconds to the end of the
# response. Both servers are counted the same way from it: answers, the 302s among them, the rate
# achieved over the logged span, latency percentiles, and h2load's failed/errored/timeout counts.
percentiles() { # log summary -> one JSON line
    python3 - "$1" "$2" <<'EOF'
import sys, re, json
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
summary = open(sys.argv[2]).read()
failed = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", summary)
started = re.search(r"requests: \d+ total, (\d+) started", summary)
if not rows:
    print(json.dumps({"answers": 0}))
    sys.exit()
ms = sorted(int(r[2]) / 1000 for r in rows)
starts = sorted(int(r[0]) for r in rows)
span = (starts[-1] - starts[0]) / 1e6
q = lambda p: ms[min(len(ms) - 1, int(p * (len(ms) - 1) + 0.5))]
print(json.dumps({
    "answers": len(ms), "redirects": sum(1 for r in rows if r[1] == "302"), "other": sum(1 for r in rows if r[1] != "302"),
    "rate": (len(ms) - 1) / span if span > 0 else 0, "p50": q(.5), "p90": q(.9), "p99": q(.99), "max": ms[-1],
    "failed": sum(int(g) for g in failed.groups()) if failed else -1,
    "started": int(started.group(1)) if started else -1,
}))
EOF
}
# CPU ticks (user + system) of the processes PID... and their children, so far.
ticks() {
    local total=0 p
    for p in "$@" $(for q in "$@"; do pgrep -P "$q"; done); do
        [ -r "/proc/$p/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$total"
}
# Per thread of the processes PID... and their children: name, CPU and time spent runnable but
# waiting for a CPU (nanoseconds, /proc/.../schedstat), voluntary and involuntary switches; one
# JSON object. threads_diff BEFORE AFTER prints what each thread did in between: a thread that
# waited long for its CPU (other threads or processes on its core) shows there, not in its CPU.
threads() {
    python3 - $(for q in "$@"; do echo "$q"; pgrep -P "$q"; done) <<'EOF'
import sys, os, json
out = {}
for pid in sys.argv[1:]:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        continue
    for tid in tids:
        try:
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            run, wait, slices = (int(x) for x in open(f"/proc/{pid}/task/{tid}/schedstat").read().split())
            status = open(f"/proc/{pid}/task/{tid}/status").read()
            switches = {k: int(status.split(f"\n{k}_ctxt_switches:")[1].split()[0]) for k in ("voluntary", "nonvoluntary")}
        except (OSError, IndexError, ValueError):
            continue
        out[tid] = {"comm": comm, "run": run, "wait": wait, "slices": slices, **switches}
print(json.dumps(out))
EOF
}
threads_diff() {
    python3 - "$1" "$2" <<'EOF'
import sys, json
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
zero = {"run": 0, "wait": 0, "slices": 0, "voluntary": 0, "nonvoluntary": 0}
rows = [(t["comm"], {k: t[k] - a.get(tid, zero)[k] for k in zero}) for tid, t in b.items()]
for comm, d in sorted((r for r in rows if r[1]["run"] >= 1e6), key=lambda r: -r[1]["run"]):
    print(f"  thread {comm}: CPU {d['run'] / 1e6:.0f} ms, runnable but waiting for its CPU {d['wait'] / 1e6:.1f} ms over {d['slices']} runs "
          f"({d['wait'] / max(d['slices'], 1) / 1e3:.1f} us each), {d['voluntary']} voluntary and {d['nonvoluntary']} involuntary switches")
EOF
}
# Where the slowest 1% of answers fall in time: bursts of them (< 5 ms apart) say something held
# the server up now and then (the longest bursts, with their start in the second: a phase that
# repeats points at periodic work); slow answers spread out one by one say queueing.
tail_shape() {
    python3 - "$1" <<'EOF'
import sys
rows = sorted((int(r[0]), int(r[2])) for r in (l.split("\t") for l in open(sys.argv[1]) if l.strip()))
if len(rows) < 100:
    sys.exit()
cut = sorted(r[1] for r in rows)[int(0.99 * (len(rows) - 1))]
slow = [r for r in rows if r[1] >= cut]
bursts = []
for start, us in slow:
    if bursts and start - bursts[-1][-1][0] < 5000:
        bursts[-1].append((start, us))
    else:
        bursts.append([(start, us)])
t0 = rows[0][0]
print(f"  slowest 1% (>= {cut / 1000:.3f} ms): {len(slow)} answers in {len(bursts)} bursts; the longest: " + ", ".join(
    f"{len(b)} at {(b[0][0] - t0) / 1e6:.2f} s (.{b[0][0] % 1000000 // 1000:03d} of its second, up to {max(x[1] for x in b) / 1000:.1f} ms)"
    for b in sorted(bursts, key=len, reverse=True)[:6]))
EOF
}
h2() { # name url pid...: RATE requests/s from 10 connections on core 1 for 10 s (after 1 s of warm-up)
    # The tenant's name goes in :authority, which h2load sends as Host: a second Host header makes
    # the request invalid (RFC 9112, 3.2), and nginx answers it with 400.
    # h2load can wait for ever after its duration when starved of CPU: 30 s at most.
    # The servers' CPU is counted from the end of the warm-up, as the answers are.
    local name=$1 url=$2 before h2pid
    shift 2
    timeout -s INT 30 taskset -c 1 h2load --h1 -c 10 -t 1 --rps $((RATE / 10)) -D 10 --warm-up-time 1 -H ":authority: t1.example" \
        --log-file "$work/$name.log" "$url" >"$work/$name.out" 2>&1 &
    h2pid=$!
    sleep 1
    before=$(ticks "$@")
    threads "$@" >"$work/$name.threads0"
    wait "$h2pid" || true
    cpu=$(( $(ticks "$@") - before ))
    threads "$@" >"$work/$name.threads1"
    percentiles "$work/$name.log" "$work/$name.out" | python3 -c "import sys, json; r = json.load(sys.stdin); r['cpu'] = $cpu / $(getconf CLK_TCK); print(json.dumps(r))" >"$work/$name.json"
    python3 - "$name" "$work/$name.json" "$(load)" <<'EOF'
import sys, json
name, r, load = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
if not r["answers"]:
    print(f"{name}: no answers ({load})")
else:
    print(f"{name}: {r['answers']} answers to {r['started']} requests sent ({r['redirects']} 302, {r['other']} other; {r['failed']} failed, errored or timed out) at {r['rate']:.0f}/s; "
          f"latency ms p50 {r['p50']:.3f} p90 {r['p90']:.3f} p99 {r['p99']:.3f} max {r['max']:.3f}; server CPU {r['cpu']:.2f} s, "
          f"{r['answers'] / r['cpu'] if r['cpu'] > 0 else 0:.0f} answers per CPU-second, {r['cpu'] / r['answers'] * 1e6:.0f} us per answer ({load})")
EOF
    threads_diff "$work/$name.threads0" "$work/$name.threads1"
    tail_shape "$work/$name.log"
}
compare() { # the router against nginx, same run, same counting; no ratio from an invalid run
    python3 - "$work/ecdn-router.json" "$work/nginx-302.json" "$RATE" <<'EOF'
import sys, json
r, n, rate = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
asked = rate * 10
def problems(s):
    """Why a server's run cannot be compared: it answered fewer requests than asked (1% slack for
    h2load's pacing), answered anything but a 302, or h2load counted failures."""
    why = []
    if s.get("answers", 0) < 0.99 * asked:
        why.append(f"{s.get('answers', 0)} answers of {asked} asked")
    if s.get("other", 0):
        why.append(f"{s['other']} answers not a 302")
    if s.get("failed", 0) != 0:
        why.append(f"{s.get('failed')} failed, errored or timed out")
    return why
bad = {name: problems(s) for name, s in (("ecdn router", r), ("nginx", n))}
for name, why in bad.items():
    if why:
        print(f"INVALID: {name}: {'; '.join(why)}")
if any(bad.values()):
    print("ratio ecdn router / nginx: INVALID (see above)")
    sys.exit()
met = r["p99"] <= 1 and r["rate"] >= 0.99 * rate
print(f"ratio ecdn router / nginx: 302s per second {r['rate'] / n['rate']:.2f}x, "
      f"p50 {r['p50'] / n['p50']:.2f}x, p99 {r['p99'] / n['p99']:.2f}x, CPU per 302 {(r['cpu'] / r['redirects']) / (n['cpu'] / n['redirects']) if r['cpu'] > 0 and n['cpu'] > 0 else 0:.2f}x; "
      f"goal (every answer a 302, p99 <= 1 ms at {rate}/s): {'met' if met else 'not met'}")
EOF
}
"$bin/cluster-bench" seed --store "$store" --sites "$SITES" --tenants "$TENANTS" --local-prefix 127.0.0.0/8 >/dev/null
rport=$((port + 2))
# The seeded instances are records without caches behind them: the router's cache checks are off.
taskset -c 0 "$bin/ecdn" router --store "$store" --id bench --listen "127.0.0.1:$rport" --cache-check-interval 0 --cache-check-timeout 0 \
    ${ROUTER_ARGS:-} >"$work/router.log" 2>&1 &
router_pid=$!
pids+=("$router_pid")
for _ in $(seq 300); do
    curl -s -m 1 -D - -o /dev/null -H "Host: t1.example" "http://127.0.0.1:$rport/live/1/index.m3u8" | grep -q X-ECDN-Instance && break
    kill -0 "$router_pid" 2>/dev/null || { echo "ecdn router exited: $(tail -1 "$work/router.log")"; exit 1; }
    sleep 0.2
done
nport=$((port + 3))
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http {
    access_log off;
    # As the router: a connection stays open for every request. nginx's default closes it after
    # 1,000 (at this rate, at the end of h2load's 1 s warm-up), and h2load 1.52 in rate mode
    # sends no measured request on connections reopened in its warm-up (0 in 5 s with 100 per
    # connection): the run that counted 110 nginx answers.
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server { listen 127.0.0.1:$nport; location / { return 302 http://172.16.0.10:18080\$request_uri; } }
}
EOF
taskset -c 0 nginx -p "$work" -c "$work/nginx.conf"
echo "## 1b. router decisions over HTTP at $RATE requests/s, router on core 0, h2load on core 1 ($(load))"
h2 "ecdn-router" "http://127.0.0.1:$rport/live/1/index.m3u8" "$router_pid"
h2 "nginx-302" "http://127.0.0.1:$nport/live/1/index.m3u8" "$(cat "$work/nginx.pid")"
compare
kill "$(cat "$work/nginx.pid")"; rm -f "$work/nginx.pid"
fi

if [[ $PARTS == *2* ]]; then
    echo "## 2. leader planning ($(load))"
    "$bin/cluster-bench" planner --store "$store" --sites "$SITES" --tenants "$TENANTS" --seconds 5
fi
if [[ $PARTS == *3* ]]; then
    # Every arrival a new viewer (the worst case); ten times the arrivals must not write more.
    for rate in 1000 10000; do
        echo "## 3. etcd traffic per viewer arrival, $rate arrivals/s ($(load))"
        "$bin/cluster-bench" traffic --store "$store" --sites 100 --tenants 2 --rate "$rate" --seconds 10
    done
fi

[ "$BED" = 1 ] && [[ $PARTS == *4* ]] || exit 0
[ "$(id -u)" -eq 0 ] || { echo "## 4. skipped: the test bed needs root"; exit 0; }
ms() { date +%s%3N; }
bed() { "$bin/ecdn" testbed "$@" --name ecdnm; }
leader() { curl -s -m 1 "http://10.77.0.2$1:8001/api/leader" | sed -n 's/.*"id" *: *"\([^"]*\)".*/\1/p'; }
# route SITE [PATH] [ROUTER]: the router's answer headers for a viewer of SITE.
route() { ip netns exec "ecdnm-view$1" curl -s -m 2 -D - -o /dev/null "http://10.77.0.3${3:-1}:8000${2:-/live/1/index.m3u8}" | tr -d '\r'; }
# Where the router sends a viewer of site $1: the instance, or the origin and why.
target() { route "$@" | sed -n 's/^X-ECDN-Instance: \(.*\)/\1/p; s/^X-ECDN-Origin-Reason: \(.*\)/origin (\1)/p'; }
# within SECONDS COMMAND...: runs COMMAND every 20 ms until it succeeds; fails after SECONDS.
within() { local end=$(( $(ms) + $1 * 1000 )); shift; until "$@"; do [ "$(ms)" -lt "$end" ] || return 1; sleep 0.02; done; }
viewers() { # site seconds name: 10 retrying viewers in the site's client namespace, in the background
    ip netns exec "ecdnm-view$1" "$bin/cluster-bench" viewers --routers http://10.77.0.31:8000,http://10.77.0.32:8000 \
        --prefix "10.77.10$1.0/24" --count 10 --seconds "$2" --json "$work/$3.json" >"$work/$3.txt" 2>&1 &
    viewers_pid=$!
}
seen() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{r['visibleErrors']} visible errors of {r['fetches']} fetches ({r['retried']} retried)\")" "$work/$1.json"; }
cached() { target "$@" | grep -q "^site"; }
leads() { [ "$(leader "$1")" = "ctl$1" ]; }
moved() { where=$(target 2) && [ -n "$where" ] && [ "${where#site2-}" = "$where" ]; }
serves() { route 1 | grep -q X-ECDN-Instance; }

echo "## 4. test bed: 3 etcd members, 2 controllers, 2 routers, 3 site hosts; 10 viewers per fault, each retrying a failed fetch once ($(load))"
for trial in $(seq "$TRIALS"); do
    bed down >/dev/null 2>&1 || true
    bed up >/dev/null 2>"$work/bed.log" || { cat "$work/bed.log"; exit 1; }
    for s in 1 2 3; do within 60 cached "$s" || { echo "site $s got no cache within 60 s; agent log:"; tail -5 "/tmp/ecdnm/agent$s.log"; exit 1; }; done

    # Leader fail-over: kill -9 the leader; time until the other controller leads, and until
    # it placed a cache nobody had placed before (the vod tenant at site 3) and a viewer is sent there.
    viewers 1 12 leader; sleep 2
    l=$(leader 1); victim=${l#ctl}; survivor=$((3 - victim))
    t0=$(ms); ip netns pids "ecdnm-ctl$victim" | xargs -r kill -9
    within 30 leads "$survivor" || { echo "no new leader within 30 s"; exit 1; }
    failover=$(( $(ms) - t0 )); failover_load=$(load)
    within 30 cached 3 /vod/1/index.m3u8 || { echo "no placement by the new leader within 30 s"; exit 1; }
    resumed=$(( $(ms) - t0 ))
    wait "$viewers_pid" || true

    # An etcd member killed: the others keep quorum.
    viewers 1 10 member; sleep 2
    ip netns pids ecdnm-etcd1 | xargs -r kill -9
    wait "$viewers_pid" || true

    # A site host cut off: time until a new viewer of site 2 is sent elsewhere (another site's cache or the origin).
    viewers 2 15 site; sleep 2
    t0=$(ms); ip link set ecdnmsite2 down
    within 30 moved || { echo "site 2's viewers not re-routed within 30 s"; exit 1; }
    reroute=$(( $(ms) - t0 )); reroute_load=$(load)
    wait "$viewers_pid" || true
    ip link set ecdnmsite2 up

    # Router restart: kill -9, start again, time until it redirects a viewer to a cache.
    viewers 1 10 router; sleep 2
    ip netns pids ecdnm-rtr1 | xargs -r kill -9
    t0=$(ms)
    ip netns exec ecdnm-rtr1 setsid "$bin/ecdn" router --store etcd://10.77.0.11:2379,10.77.0.12:2379,10.77.0.13:2379 --id rtr1 --listen 10.77.0.31:8000 >/dev/null 2>&1 &
    disown
    within 30 serves || { echo "the restarted router did not serve within 30 s"; exit 1; }
    restart=$(( $(ms) - t0 )); restart_load=$(load)
    wait "$viewers_pid" || true

    echo "trial $trial:"
    echo "  leader fail-over ${failover} ms, first new placement served ${resumed} ms after the kill ($failover_load); viewers at site 1: $(seen leader)"
    echo "  etcd member killed; viewers at site 1: $(seen member)"
    echo "  site 2 cut off: its new viewers sent to ${where} after ${reroute} ms ($reroute_load); viewers at site 2: $(seen site)"
    echo "  router restart (process start included) to first cache redirect ${restart} ms ($restart_load); viewers at site 1: $(seen router)"
done
bed down >/dev/null
