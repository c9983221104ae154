#!/usr/bin/env bash
# Benchmark minicache as a pull-through cache against nginx proxy_cache and Varnish, all three in
# front of the same origin (nginx serving files with Cache-Control: max-age=3600) in the same run.
# Cache servers are pinned to CPU 1, wrk to CPU 0; the origin shares CPU 0 with wrk.
#
# Workloads (keep-alive, 100 connections):
#   hit     one 1 KiB object, warmed first; plus minicache serving the same file from a static
#           volume (the data-plane path) for the hit-vs-static ratio
#   zipf90  Zipf(s=1.0) over 1000 1 KiB objects, and 10% of requests with a unique query string
#           (misses that go to the origin and are stored): a ~90% hit ratio
#   miss    every request a new URL (1 KiB from the origin, stored): the miss path, evictions
#           included once the cache's table or volume is full
#   miss256 every request a new URL, 256 KiB each (a live segment): the live edge's miss path
#   live    the live edge: each new 256 KiB segment is asked for by 100 requests in a row (100
#           viewers within a moment of its publication, well inside 1 s at these rates), so one
#           fill serves 99 joiners or hits
# Reports req/s, server CPU % (utime+stime from /proc, of every process of the server) and requests
# per server CPU-second; for minicache also how many responses its store kept during the run
# (`stored`, from its admin metrics): a store that keeps more of the misses spends more CPU on them,
# so an all-miss ratio is read with it. A run in which a server answered any non-2xx/3xx response (or let a request
# time out) is marked INVALID and gets no ratio: a server that fails requests is not compared.
# Varnish runs with nuke_limit=1000: with its default (50) a 256 KiB fetch that must evict more
# than 50 smaller objects (the 1 KiB objects of the earlier workloads sit at the LRU tail) fails
# with 503 "Could not get storage" (varnishlog FetchError, MAIN.n_lru_limited); nginx and
# minicache evict as many objects as a new one needs.
# Then the fill memory check: RSS of each minicache after FILLS (default 10000) fills of new
# 256 KiB URLs, and after a restart on the same volume that answered one stored fill (a hit:
# only-if-cached, so the restarted cache never runs a fill). Each is read once the cache has used
# no CPU for a second (its store committed the last fills, its trimmer ran; a reading 2 s after the
# last fill, while the store was still writing, showed 58 MiB instead of 38). Besides VmRSS the
# line gives the anonymous part (the heap, where fills could leave memory behind) and the
# file-backed part (the executable's and libraries' pages, shared with the page cache: the same
# restart maps 0.5-6 MiB of minicache's code from run to run), and the ratio of each. Last, the
# restarted cache makes 8 fills: the miss path's one-time cost (its code pages, the store thread,
# the origin connections), so growth with the number of fills shows apart from it.
# `uptime` is recorded before the servers start and after every workload (uptime.txt), since the
# machine may be shared.
#
#   DURATION   seconds per wrk run (default 5)
#   OUT        results directory (default bench-results/cache-<date>)
#   MINICACHE  a prebuilt release minicache (default: built here, `swift build -c release
#              --scratch-path .build-release --product minicache`; SCRATCH_PATH changes the path)
#   BASELINE   a second minicache (e.g. a release build of main before a change), measured in the
#              same run as "minicache-baseline"
#   WORKLOADS  which to run (default: hit zipf90 miss miss256 live; empty: none, only the RSS check)
#   FILLS      fills before the RSS check (default 10000; 0 skips it)
#   ROUNDS     runs of each workload per server (default 1), interleaved: round by round, the
#              servers in turn, in reverse order every other round; ratios are of the medians, and
#              minicache's ratio to each server is also given per round
#
# Needs: nginx, varnish, wrk, python3, taskset (apt-get install -y nginx varnish wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${DURATION:-5}"
out="${OUT:-bench-results/cache-$(date -u +%Y%m%dT%H%M%SZ)}"
scratch="${SCRATCH_PATH:-.build-release}"
work="$(mktemp -d /tmp/minicache-cache-bench.XXXXXX)"
mkdir -p "$out"
scripts/package-versions.sh | tee "$out/packages.txt"
pids=()
cleanup() {
    for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    sleep 0.2
    rm -rf "$work"
}
trap cleanup EXIT

for tool in nginx varnishd wrk python3 taskset; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx varnish wrk" >&2; exit 1; }
done
if [ -z "${MINICACHE:-}" ]; then
    echo "==> building minicache (release)"
    swift build -c release --scratch-path "$scratch" --product minicache >/dev/null
    MINICACHE="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/minicache"
fi
swift build -c release --scratch-path "$scratch" --product shfs >/dev/null
shfs="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/shfs"

cat >"$work/miss.lua" <<'LUA'
local counter = 0
init = function(args) math.randomseed(tonumber(args[1]) or 1) end
request = function()
  counter = counter + 1
  return wrk.format(nil, "/1k?m=" .. counter .. "-" .. math.random(1, 1e9))
end
LUA
cat >"$work/miss256.lua" <<'LUA'
local counter = 0
init = function(args) math.randomseed(tonumber(args[1]) or 1) end
request = function()
  counter = counter + 1
  return wrk.format(nil, "/seg256k?m=" .. counter .. "-" .. math.random(1, 1e9))
end
LUA
cat >"$work/live.lua" <<'LUA'
local counter, run = 0, 0
init = function(args) math.randomseed(tonumber(args[1]) or 1); run = math.random(1, 1e9) end
request = function()
  counter = counter + 1
  return wrk.format(nil, "/seg256k?live=" .. run .. "-" .. math.floor(counter / 100))
end
LUA

echo "==> origin files, volumes in $work"
mkdir -p "$work/www/o"
chmod 755 "$work" "$work/www" "$work/www/o"
head -c 1024 /dev/urandom >"$work/www/1k"
head -c 262144 /dev/urandom >"$work/www/seg256k"
for i in $(seq 0 999); do head -c 1024 /dev/urandom >"$work/www/o/$i"; done
chmod -R a+r "$work/www"
"$shfs" mkfs "$work/static.shfs" --size 64M --name static --force >/dev/null
"$shfs" add "$work/static.shfs" "$work/www/1k" --name 1k --mime application/octet-stream >/dev/null
"$shfs" mkfs "$work/cache.shfs" --size 256M --name cache --force >/dev/null
"$shfs" mkfs "$work/baseline.shfs" --size 256M --name cache --force >/dev/null

common_http="access_log off; keepalive_requests 100000000; keepalive_timeout 65; default_type application/octet-stream;
  client_body_temp_path $work/ngx-body; proxy_temp_path $work/ngx-proxy; fastcgi_temp_path $work/ngx-fcgi;
  uwsgi_temp_path $work/ngx-uwsgi; scgi_temp_path $work/ngx-scgi;"
cat >"$work/origin.conf" <<CONF
worker_processes 1; daemon off; pid $work/origin.pid; error_log $work/origin.err warn;
events { worker_connections 4096; }
http { $common_http
  server { listen 127.0.0.1:18500; root $work/www; add_header Cache-Control "max-age=3600"; }
}
CONF
cat >"$work/proxy.conf" <<CONF
worker_processes 1; daemon off; pid $work/proxy.pid; error_log $work/proxy.err warn;
events { worker_connections 4096; }
http { $common_http
  proxy_cache_path $work/ngx-cache levels=1:2 keys_zone=c:64m max_size=256m inactive=1h use_temp_path=off;
  upstream origin { server 127.0.0.1:18500; keepalive 32; }
  server { listen 127.0.0.1:18502;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache c; proxy_cache_lock on; proxy_cache_valid 200 1h; } }
}
CONF
cat >"$work/default.vcl" <<'VCL'
vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "18500"; }
VCL

cat >"$work/zipf.lua" <<'LUA'
local n, s, cdf, counter = 1000, 1.0, {}, 0
init = function(args)
  local total = 0
  for i = 1, n do total = total + 1 / i ^ s; cdf[i] = total end
  for i = 1, n do cdf[i] = cdf[i] / total end
  math.randomseed(tonumber(args[1]) or 1)
end
request = function()
  if math.random() < 0.1 then
    counter = counter + 1
    return wrk.format(nil, "/1k?u=" .. counter .. "-" .. math.random(1, 1e9))
  end
  local u, lo, hi = math.random(), 1, n
  while lo < hi do local mid = math.floor((lo + hi) / 2); if cdf[mid] < u then lo = mid + 1 else hi = mid end end
  return wrk.format(nil, "/o/" .. (lo - 1))
end
LUA

# CPU ticks of the given servers and of the processes they started, counted at call time: a child
# that ended (nginx's cache loader does a minute after start) is in its parent's cutime/cstime.
cpu_ticks() {
    local total=0 pid
    for pid in "$@" $(for p in "$@"; do pgrep -P "$p"; done); do
        read -r -a f 2>/dev/null <"/proc/$pid/stat" || continue
        total=$((total + f[13] + f[14] + f[15] + f[16]))
    done
    echo "$total"
}
wait_port() { for _ in $(seq 1 500); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.01; done; return 1; }
hz=$(getconf CLK_TCK)
results="$out/load.tsv"
printf "server\tworkload\tround\treq_s\tcpu_pct\treq_per_cpu_s\tnon_2xx\tstored\n" >"$results"

# Responses a minicache stored since it started (its admin listener is its port + 10); "-" for others.
stored_total() {
    case "$1" in
        minicache) curl -s http://127.0.0.1:18511/metrics ;;
        minicache-baseline) curl -s http://127.0.0.1:18515/metrics ;;
        *) echo "minicache_cache_stored_total -" ;;
    esac | awk '/^minicache_cache_stored_total / {print $2; found=1} END {if (!found) print 0}'
}

run_wrk() { # server workload round url pids...
    local server=$1 workload=$2 round=$3 url=$4
    shift 4
    local seed=$((100 * (round - 1)))
    local args=(-t1 -c100 -d"${duration}s")
    local extra=()
    # Another seed each round, so a later round asks for new URLs again.
    if [ "$workload" = zipf90 ]; then args+=(-s "$work/zipf.lua"); extra=(-- $((7 + seed))); fi
    if [ "$workload" = miss ]; then args+=(-s "$work/miss.lua"); extra=(-- $((11 + seed))); fi
    if [ "$workload" = miss256 ]; then args+=(-s "$work/miss256.lua"); extra=(-- $((13 + seed))); fi
    if [ "$workload" = live ]; then args+=(-s "$work/live.lua"); extra=(-- $((17 + seed))); fi
    local before after start end text stored_before stored_after
    stored_before=$(stored_total "$server")
    before=$(cpu_ticks "$@"); start=$(date +%s.%N)
    text=$(taskset -c 0 wrk "${args[@]}" "$url" "${extra[@]}" 2>&1)
    end=$(date +%s.%N); after=$(cpu_ticks "$@")
    stored_after=$(stored_total "$server")
    echo "$text" >"$out/wrk-$server-$workload-$round.txt"
    python3 - "$server" "$workload" "$round" "$before" "$after" "$hz" "$start" "$end" "$text" "$stored_before" "$stored_after" >>"$results" <<'PY'
import re, sys
server, workload, round_, before, after, hz, start, end, text, stored_before, stored_after = sys.argv[1:]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
failed = int(errors.group(1)) if errors else 0
# Requests that timed out never got an answer: they count as failed too.
sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
failed += int(sockets.group(4)) if sockets else 0
if failed:
    print(f"warning: {server} {workload}: {failed} non-2xx responses or timeouts: this run is not a valid comparison", file=sys.stderr)
cpu = (int(after) - int(before)) / int(hz) / (float(end) - float(start))
stored = "-" if stored_before == "-" else str(int(stored_after) - int(stored_before))
print(f"{server}\t{workload}\t{round_}\t{rps:.0f}\t{cpu*100:.0f}\t{rps / cpu if cpu > 0 else 0:.0f}\t{failed}\t{stored}")
PY
    tail -1 "$results"
}

record_uptime() { echo "$1: $(uptime)" | tee -a "$out/uptime.txt"; }
record_uptime "before the servers start ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo "==> servers (machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
taskset -c 0 nginx -c "$work/origin.conf" -p "$work" 2>/dev/null & pids+=("$!")
taskset -c 1 "$MINICACHE" serve "$work/cache.shfs" --listen 127.0.0.1:18501 --admin 127.0.0.1:18511 --threads 1 --log-level error \
    --origin http://127.0.0.1:18500 & mc=$!; pids+=("$mc")
taskset -c 1 "$MINICACHE" serve "$work/static.shfs" --listen 127.0.0.1:18504 --admin off --threads 1 --log-level error & ms=$!; pids+=("$ms")
taskset -c 1 nginx -c "$work/proxy.conf" -p "$work" 2>/dev/null & np=$!; pids+=("$np")
taskset -c 1 varnishd -F -a 127.0.0.1:18503 -f "$work/default.vcl" -n "$work/varnish" -s malloc,256m -t 3600 -p nuke_limit=1000 >/dev/null 2>&1 & vp=$!; pids+=("$vp")
ports="18500 18501 18502 18503 18504"
if [ -n "${BASELINE:-}" ]; then
    taskset -c 1 "$BASELINE" serve "$work/baseline.shfs" --listen 127.0.0.1:18505 --admin 127.0.0.1:18515 --threads 1 --log-level error \
        --origin http://127.0.0.1:18500 & mb=$!; pids+=("$mb")
    ports="$ports 18505"
fi
for port in $ports; do wait_port $port; done
sleep 1

echo "==> warm-up (every object once through each cache)"
for port in 18501 18502 18503 ${BASELINE:+18505}; do
    curl -s -o /dev/null "http://127.0.0.1:$port/1k"
    for i in $(seq 0 999); do echo "url = \"http://127.0.0.1:$port/o/$i\""; echo "output = /dev/null"; done >"$work/urls-$port"
    curl -s -K "$work/urls-$port"
done
sleep 2

workloads="${WORKLOADS-hit zipf90 miss miss256 live}"
rounds="${ROUNDS:-1}"
echo "==> load ($duration s per run, 100 connections, keep-alive; $workloads; $rounds round(s))"
# shellcheck disable=SC2086
for workload in $workloads; do
    path=""
    if [ "$workload" = hit ]; then
        path=/1k
        run_wrk minicache-static hit 1 http://127.0.0.1:18504/1k "$ms"
    fi
    servers="minicache ${BASELINE:+minicache-baseline} nginx-proxy_cache varnish"
    for round in $(seq 1 "$rounds"); do
        order=$servers
        if [ $((round % 2)) -eq 0 ]; then order=$(echo $servers | tr ' ' '\n' | tac | tr '\n' ' '); fi
        for server in $order; do
            case $server in
                minicache) run_wrk minicache "$workload" "$round" "http://127.0.0.1:18501$path" "$mc" ;;
                minicache-baseline) run_wrk minicache-baseline "$workload" "$round" "http://127.0.0.1:18505$path" "$mb" ;;
                nginx-proxy_cache) run_wrk nginx-proxy_cache "$workload" "$round" "http://127.0.0.1:18502$path" $np ;;
                varnish) run_wrk varnish "$workload" "$round" "http://127.0.0.1:18503$path" $vp ;;
            esac
        done
    done
    record_uptime "after $workload"
done
echo
echo "==> requests per server CPU-second (median of the rounds), ratio to minicache (same run)"
python3 - "$results" <<'PY' | tee "$out/ratios.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for workload in dict.fromkeys(r["workload"] for r in rows):
    runs = {}
    for r in rows:
        if r["workload"] == workload:
            runs.setdefault(r["server"], {})[r["round"]] = r
    mc = runs["minicache"]
    mc_failed = sum(int(r["non_2xx"]) for r in mc.values())
    mc_median = statistics.median(float(r["req_per_cpu_s"]) for r in mc.values())
    for server, by_round in runs.items():
        failed = sum(int(r["non_2xx"]) for r in by_round.values())
        median = statistics.median(float(r["req_per_cpu_s"]) for r in by_round.values())
        req_s = statistics.median(float(r["req_s"]) for r in by_round.values())
        cpu = statistics.median(float(r["cpu_pct"]) for r in by_round.values())
        if failed:
            ratio = f"INVALID ({failed} non-2xx or timed out)"
        elif mc_failed:
            ratio = "INVALID (minicache failed)"
        else:
            ratio = f"{mc_median / max(1.0, median):.2f}"
            if len(by_round) > 1 and server != "minicache":
                per_round = ", ".join(
                    f"{float(mc[k]['req_per_cpu_s']) / max(1.0, float(r['req_per_cpu_s'])):.2f}" for k, r in by_round.items() if k in mc)
                ratio += f" (rounds: {per_round})"
        stored = [r["stored"] for r in by_round.values() if r["stored"] != "-"]
        kept = f"  stored {'+'.join(stored)}" if stored else ""
        print(f"{workload:>7} {server:>18}: {req_s:>7.0f} req/s {cpu:>4.0f}% cpu {median:>8.0f} req/cpu-s  minicache/this = {ratio}{kept}")
PY

fills="${FILLS:-10000}"
if [ "$fills" -gt 0 ]; then
    echo
    echo "==> RSS after $fills fills of new 256 KiB URLs, and after a restart on the same volume"
    # VmRSS, RssAnon and RssFile in KiB.
    memory() { awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s ", $2}' "/proc/$1/status"; }
    # Waits until the server has used no CPU for a whole second (at most 60 s); prints the seconds.
    wait_quiet() {
        local waited=0 before after
        while [ "$waited" -lt 60 ]; do
            before=$(cpu_ticks "$1"); sleep 1; after=$(cpu_ticks "$1"); waited=$((waited + 1))
            [ "$before" = "$after" ] && break
        done
        echo "$waited"
    }
    check_rss() { # name binary volume port
        local name=$1 binary=$2 volume=$3 port=$4 pid filled restarted eight quiet1 quiet2 hit="" i answered
        "$shfs" mkfs "$volume" --size 1G --name fills --force >/dev/null
        taskset -c 1 "$binary" serve "$volume" --listen 127.0.0.1:$port --admin off --threads 1 --log-level error \
            --origin http://127.0.0.1:18500 & pid=$!
        wait_port "$port"
        kill -0 "$pid" 2>/dev/null || { echo "$name: the cache did not start (port $port taken?)" | tee -a "$out/rss.txt"; return; }
        for i in $(seq 1 "$fills"); do echo "url = \"http://127.0.0.1:$port/seg256k?fill=$i\""; echo "output = /dev/null"; done >"$work/fills-$port"
        answered=$(taskset -c 0 curl -s -Z --parallel-max 8 -K "$work/fills-$port" -w '%{http_code}\n' 2>/dev/null | grep -c '^200$' || true)
        quiet1=$(wait_quiet "$pid")
        filled=$(memory "$pid")
        kill "$pid"; wait "$pid" 2>/dev/null || true
        taskset -c 1 "$binary" serve "$volume" --listen 127.0.0.1:$port --admin off --threads 1 --log-level error \
            --origin http://127.0.0.1:18500 & pid=$!
        wait_port "$port"
        # The last fills asked for may not be stored (a busy store refuses writes): the most recent stored one.
        for i in $(seq "$fills" -1 $((fills > 100 ? fills - 99 : 1))); do
            if [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Cache-Control: only-if-cached' "http://127.0.0.1:$port/seg256k?fill=$i")" = 200 ]; then
                hit=$i; break
            fi
        done
        quiet2=$(wait_quiet "$pid")
        restarted=$(memory "$pid")
        # Then 8 fills at once (as many as the check's parallel fills): what the miss path costs the
        # first time (its code, the store thread, origin connections), apart from what fills leave.
        for i in $(seq 1 8); do echo "url = \"http://127.0.0.1:$port/seg256k?after-restart=$i\""; echo "output = /dev/null"; done >"$work/fills-$port"
        taskset -c 0 curl -s -Z --parallel-max 8 -K "$work/fills-$port" >/dev/null 2>&1
        wait_quiet "$pid" >/dev/null
        eight=$(memory "$pid")
        kill "$pid"; wait "$pid" 2>/dev/null || true
        python3 - "$name" "$filled" "$restarted" "$eight" "$quiet1" "$quiet2" "${hit:-none}" "$answered" "$fills" <<'PY' | tee -a "$out/rss.txt"
import sys
name, filled, restarted, eight, quiet1, quiet2, hit, answered, fills = sys.argv[1:]
if answered != fills:
    print(f"{name:>18}: INVALID: {answered} of {fills} fills answered 200")
    sys.exit()
(f, fa, ff), (r, ra, rf), (e, ea, ef) = (map(int, filled.split()), map(int, restarted.split()), map(int, eight.split()))
mib = lambda kib: f"{kib / 1024:.1f}"
print(f"{name:>18}: RSS after fills {mib(f)} MiB (anon {mib(fa)}, file {mib(ff)}), after restart {mib(r)} MiB "
      f"(anon {mib(ra)}, file {mib(rf)}), ratio {f / r:.2f} (anon {fa / ra:.2f}); after the restart and 8 fills "
      f"{mib(e)} MiB (anon {mib(ea)}, file {mib(ef)}), fills/this {f / e:.2f}; quiet after {quiet1} s and {quiet2} s, "
      f"restart hit fill={hit}")
PY
    }
    check_rss minicache "$MINICACHE" "$work/fills.shfs" 18506
    record_uptime "after the RSS check (minicache)"
    if [ -n "${BASELINE:-}" ]; then check_rss minicache-baseline "$BASELINE" "$work/fills-baseline.shfs" 18507; fi
fi
