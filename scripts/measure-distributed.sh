#!/usr/bin/env bash
# Measures the distributed control plane (docs/distributed.md):
#   1. router decision latency p50/p99 at RATE decisions/s, view of SITES x TENANTS from an etcd watch
#   2. leader plans per second with SITES x TENANTS in the store
#   3. etcd writes per viewer arrival (demand reports are batched per site per tick)
#   4. in the multi-host test bed (root): leader fail-over time, re-routing time after a site
#      loss, router restart to first routed viewer, and viewer-visible errors (players that retry)
#      during each fault
# Usage: scripts/measure-distributed.sh            (CONFIG=release|debug, SCRATCH=.build-release,
#        TRIALS=5, SITES=1000, TENANTS=10, RATE=10000, BED=1 for part 4)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-release}
SCRATCH=${SCRATCH:-.build-release}
TRIALS=${TRIALS:-5}
SITES=${SITES:-1000}
TENANTS=${TENANTS:-10}
RATE=${RATE:-10000}
BED=${BED:-1}

command -v etcd >/dev/null || { apt-get update -qq && apt-get install -y -qq etcd-server; }
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg), config $CONFIG"
scripts/package-versions.sh
swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product ecdn >&2
swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product minicache >&2
swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product cluster-bench >&2
bin=$(swift build -c "$CONFIG" --scratch-path "$SCRATCH" --show-bin-path)

work=$(mktemp -d /tmp/measure-distributed.XXXXXX)
port=$((20000 + RANDOM % 20000))
etcd --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$((port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
    --initial-cluster "default=http://127.0.0.1:$((port + 1))" --quota-backend-bytes $((2 << 30)) --log-level error >"$work/etcd.log" 2>&1 &
etcd_pid=$!
trap 'kill $etcd_pid 2>/dev/null; rm -rf "$work"; [ "$BED" = 1 ] && "$bin/ecdn" testbed down --name ecdnm >/dev/null 2>&1 || true' EXIT
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/health" | grep -q true && break; sleep 0.1; done
store="etcd://127.0.0.1:$port"

echo "## 1. router decisions (load $(cut -d' ' -f1 /proc/loadavg))"
taskset -c 1 "$bin/cluster-bench" router --store "$store" --sites "$SITES" --tenants "$TENANTS" --rate "$RATE" --seconds 10
echo "## 2. leader planning (load $(cut -d' ' -f1 /proc/loadavg))"
"$bin/cluster-bench" planner --store "$store" --sites "$SITES" --tenants "$TENANTS" --seconds 5
echo "## 3. etcd traffic per viewer arrival (load $(cut -d' ' -f1 /proc/loadavg))"
"$bin/cluster-bench" traffic --store "$store" --sites 100 --tenants 2 --rate 1000 --seconds 10

[ "$BED" = 1 ] || exit 0
[ "$(id -u)" -eq 0 ] || { echo "## 4. skipped: the test bed needs root"; exit 0; }
ms() { date +%s%3N; }
bed() { "$bin/ecdn" testbed "$@" --name ecdnm; }
leader() { curl -s -m 1 "http://10.77.0.2$1:8001/api/leader" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'; }
route() { ip netns exec "ecdnm-view$1" curl -s -m 2 -D - -o /dev/null "http://10.77.0.31:8000/live/1/index.m3u8" | tr -d '\r'; }
players() { # site rate duration: player-like viewers in a client namespace, report in $work/load$1.json
    ip netns exec "ecdnm-view$1" "$bin/ecdn" load --router http://10.77.0.31:8000 --sites "10.77.10$1.0/24" --rate "$2" \
        --duration "$3" --watch 10-15 --channels 1 --json "$work/load$1.json" >/dev/null 2>&1 &
    players_pid=$!
}
errors() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{r['viewers']} players, {r['withErrors']} saw an error, {r['stalls']} stalls\")" "$work/load$1.json"; }

echo "## 4. test bed: 3 etcd members, 2 controllers, 2 routers, 3 site hosts (load $(cut -d' ' -f1 /proc/loadavg))"
for trial in $(seq "$TRIALS"); do
    bed down >/dev/null 2>&1 || true
    bed up >/dev/null 2>"$work/bed.log" || { cat "$work/bed.log"; exit 1; }
    route 1 >/dev/null; route 2 >/dev/null
    players 1 0.5 20
    sleep 3
    # Leader fail-over: kill -9 the leader, time until the other controller leads.
    l=$(leader 1); victim=${l#ctl}; survivor=$((3 - victim))
    t0=$(ms); ip netns pids "ecdnm-ctl$victim" | xargs -r kill -9
    until [ "$(leader "$survivor")" = "ctl$survivor" ]; do sleep 0.02; done
    failover=$(( $(ms) - t0 ))
    # Site loss: cut site 2 off, time until its new viewers are sent elsewhere.
    t0=$(ms); ip link set ecdnmsite2 down
    until route 2 | grep -q "site lost"; do sleep 0.05; done
    reroute=$(( $(ms) - t0 ))
    ip link set ecdnmsite2 up
    # Router restart: kill -9, start again, time until it routes a viewer to a cache.
    ip netns pids ecdnm-rtr1 | xargs -r kill -9
    t0=$(ms)
    ip netns exec ecdnm-rtr1 setsid "$bin/ecdn" router --store etcd://10.77.0.11:2379,10.77.0.12:2379,10.77.0.13:2379 --id rtr1 --listen 10.77.0.31:8000 >/dev/null 2>&1 &
    until route 1 | grep -q X-ECDN-Instance; do sleep 0.02; done
    restart=$(( $(ms) - t0 ))
    wait "$players_pid"
    echo "trial $trial: fail-over ${failover} ms; re-routing after site loss ${reroute} ms; router restart to first cache redirect ${restart} ms; players at site 1 during the faults: $(errors 1)"
done
bed down >/dev/null
