#!/usr/bin/env bash
# Benchmark minicache against nginx on this machine: the same files (0 B, 1 KiB, 64 KiB, 1 MiB,
# 16 MiB), server pinned to CPU 1, wrk pinned to CPU 0, keep-alive and 16-deep pipelining,
# 10 and 100 connections. Reports req/s, Gb/s, server CPU % (utime+stime from /proc), requests
# per server CPU-second and the ratio to nginx measured in the same run; then start-up time
# (exec -> first 200 OK, median of 20: wall time and the process tree's time on CPU) and RSS
# (idle, and after 1,000 more requests) for minicache, nginx and Varnish.
# HTTPS (same ECDSA P-256 certificate for both, TLS 1.3, nginx with OpenSSL): wrk over TLS for
# 1 KiB keep-alive and 1 MiB Gb/s, `openssl s_time` for full and resumed handshakes per server
# CPU-second, h2load for HTTP/2 with 100 concurrent streams on one connection; and the start-up
# and idle RSS of minicache with a TLS listener against plain.
#
#   DURATION   seconds per wrk run (default 5)
#   OUT        results directory (default bench-results/minicache-<date>)
#   MINICACHE  a prebuilt minicache (default: built here as a static executable)
#   BASELINE   another minicache binary (an older commit) measured in the same run, next to
#              MINICACHE, for before/after ratios
#   FILES      which files to load (default "0b 1k 64k 1m 16m")
#   LARGE_OBJECTS  minicache's --large-objects (sendfile or read; default: its own default)
#   SKIP_LOAD=1 / SKIP_TLS=1 / SKIP_STARTUP=1  skip a part (SKIP_LOAD=1 SKIP_TLS=1: start-up and memory only)
#   TLS_FILES  files for the HTTPS loads (default "1k 1m")
#   TLS_LOADS  which HTTPS loads run (default "wrk handshake h2"); the HTTP/2 row alone:
#              SKIP_LOAD=1 SKIP_STARTUP=1 TLS_LOADS=h2
#   SHFS       a prebuilt shfs (default: built here, debug)
#   STARTUP_RUNS  start-ups per server (default 20)
#   SCRATCH_PATH  SwiftPM scratch directory for the builds (default .build-server)
#
# Needs: nginx, wrk, openssl, h2load (apt-get install -y nginx wrk hyperfine varnish openssl
# nghttp2-client), python3, taskset.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${DURATION:-5}"
out="${OUT:-bench-results/minicache-$(date -u +%Y%m%dT%H%M%SZ)}"
scratch="${SCRATCH_PATH:-.build-server}"
work="$(mktemp -d /tmp/minicache-bench.XXXXXX)"
mkdir -p "$out"
scripts/package-versions.sh | tee "$out/packages.txt"
pids=()
cleanup() {
    for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

for tool in nginx wrk python3 taskset openssl; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx wrk hyperfine varnish openssl nghttp2-client" >&2; exit 1; }
done
if [ "${SKIP_TLS:-0}" != 1 ] && ! command -v h2load >/dev/null; then
    echo "missing h2load: apt-get install -y nghttp2-client (or SKIP_TLS=1)" >&2; exit 1
fi

if [ -z "${MINICACHE:-}" ]; then
    echo "==> building minicache (release, static executable)"
    swift build -c release --scratch-path "$scratch" --product minicache --static-swift-stdlib -Xswiftc -static-executable >/dev/null
    MINICACHE="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/minicache"
fi
if [ -n "${SHFS:-}" ]; then
    shfs="$SHFS"
else
    echo "==> building shfs (to write the volume)"
    swift build --scratch-path "$scratch" --product shfs >/dev/null
    shfs="$(swift build --scratch-path "$scratch" --show-bin-path)/shfs"
fi

echo "==> files and volume in $work"
mkdir -p "$work/www"
head -c 0 /dev/urandom >"$work/www/0b"
head -c 1024 /dev/urandom >"$work/www/1k"
head -c 65536 /dev/urandom >"$work/www/64k"
head -c 1048576 /dev/urandom >"$work/www/1m"
head -c 16777216 /dev/urandom >"$work/www/16m"
"$shfs" mkfs "$work/bench.shfs" --size 64M --name bench --force >/dev/null
chmod 755 "$work" "$work/www"
chmod 644 "$work"/www/*
for f in 0b 1k 64k 1m 16m; do "$shfs" add "$work/bench.shfs" "$work/www/$f" --name "$f" --mime application/octet-stream >/dev/null; done

# One ECDSA P-256 certificate for both servers' HTTPS listeners.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
chmod 644 "$work/key.pem"

cat >"$work/pipeline.lua" <<'LUA'
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do r[i] = wrk.format(nil) end
  req = table.concat(r)
end
request = function() return req end
LUA

nginx_conf() { # $1 port, $2 sendfile on|off
    cat <<CONF
worker_processes 1;
daemon off;
master_process on;
pid $work/nginx-$1.pid;
error_log $work/nginx-$1.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile $2;
  tcp_nopush off;
  tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 65;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
  default_type application/octet-stream;
  client_body_temp_path $work/ngx-body-$1;
  proxy_temp_path $work/ngx-proxy-$1;
  fastcgi_temp_path $work/ngx-fcgi-$1;
  uwsgi_temp_path $work/ngx-uwsgi-$1;
  scgi_temp_path $work/ngx-scgi-$1;
  server { listen 127.0.0.1:$1; root $work/www; }
}
CONF
}

nginx_tls_conf() { # $1 port: HTTPS with HTTP/1.1 and h2, TLS 1.3, session tickets and cache
    cat <<CONF
worker_processes 1;
daemon off;
master_process on;
pid $work/nginx-$1.pid;
error_log $work/nginx-$1.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile off;
  tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 65;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
  default_type application/octet-stream;
  http2_max_concurrent_streams 128;
  client_body_temp_path $work/ngx-body-$1;
  proxy_temp_path $work/ngx-proxy-$1;
  fastcgi_temp_path $work/ngx-fcgi-$1;
  uwsgi_temp_path $work/ngx-uwsgi-$1;
  scgi_temp_path $work/ngx-scgi-$1;
  server {
    listen 127.0.0.1:$1 ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    root $work/www;
  }
}
CONF
}

cpu_ticks() { # sum of utime+stime of the given pids
    local total=0
    for pid in "$@"; do
        read -r -a f <"/proc/$pid/stat"
        total=$((total + f[13] + f[14]))
    done
    echo "$total"
}

wait_port() { for _ in $(seq 1 500); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.01; done; return 1; }

hz=$(getconf CLK_TCK)
results="$out/load.tsv"
printf "server\tfile\tconns\tmode\treq_s\tgbit_s\tcpu_pct\treq_per_cpu_s\n" >"$results"

run_wrk() { # server file conns mode port pids...
    local server=$1 file=$2 conns=$3 mode=$4 port=$5
    shift 5
    local args=(-t1 -c"$conns" -d"${duration}s" --latency)
    local extra=()
    if [ "$mode" = pipelined ]; then args+=(-s "$work/pipeline.lua"); extra=(-- 16); fi
    local before after
    before=$(cpu_ticks "$@")
    local start end
    start=$(date +%s.%N)
    local text
    text=$(taskset -c 0 wrk "${args[@]}" "http://127.0.0.1:$port/$file" "${extra[@]}" 2>&1)
    end=$(date +%s.%N)
    after=$(cpu_ticks "$@")
    echo "$text" >"$out/wrk-$server-$file-$conns-$mode.txt"
    python3 - "$server" "$file" "$conns" "$mode" "$before" "$after" "$hz" "$start" "$end" "$text" >>"$results" <<'PY'
import re, sys
server, file, conns, mode, before, after, hz, start, end, text = sys.argv[1:]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?)B", text)
scale = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]
gbit = float(m.group(1)) * scale * 8 / 1e9
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors:
    sys.exit(f"{server} {file} {conns} {mode}: {errors.group(1)} non-2xx responses; see the wrk output in the results directory")
cpu = (int(after) - int(before)) / int(hz) / (float(end) - float(start))
per_cpu = rps / cpu if cpu > 0 else 0
print(f"{server}\t{file}\t{conns}\t{mode}\t{rps:.0f}\t{gbit:.2f}\t{cpu*100:.0f}\t{per_cpu:.0f}")
PY
    tail -1 "$results"
}

if [ "${SKIP_LOAD:-0}" != 1 ]; then
    echo "==> load ($duration s per run; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
    # minicache: one event-loop thread on CPU 1.
    taskset -c 1 "$MINICACHE" serve "$work/bench.shfs" --listen 127.0.0.1:18480 --admin off --threads 1 --log-level warning \
        ${LARGE_OBJECTS:+--large-objects "$LARGE_OBJECTS"} &
    mc=$!; pids+=("$mc")
    if [ -n "${BASELINE:-}" ]; then
        taskset -c 1 "$BASELINE" serve "$work/bench.shfs" --listen 127.0.0.1:18483 --admin off --threads 1 --log-level warning \
            ${LARGE_OBJECTS:+--large-objects "$LARGE_OBJECTS"} &
        mb=$!; pids+=("$mb")
    fi
    nginx_conf 18481 off >"$work/nginx-small.conf"
    nginx_conf 18482 on >"$work/nginx-large.conf"
    taskset -c 1 nginx -c "$work/nginx-small.conf" -p "$work" 2>/dev/null &
    ns=$!; pids+=("$ns")
    taskset -c 1 nginx -c "$work/nginx-large.conf" -p "$work" 2>/dev/null &
    nl=$!; pids+=("$nl")
    wait_port 18480; wait_port 18481; wait_port 18482
    [ -z "${BASELINE:-}" ] || wait_port 18483
    ns_workers=$(pgrep -P "$ns" | tr '\n' ' '); nl_workers=$(pgrep -P "$nl" | tr '\n' ' ')
    for file in ${FILES:-0b 1k 64k 1m 16m}; do
        case $file in 0b|1k|64k) nport=18481; npids="$ns $ns_workers"; modes="keepalive pipelined";; *) nport=18482; npids="$nl $nl_workers"; modes="keepalive";; esac
        for conns in 10 100; do
            for mode in $modes; do
                # shellcheck disable=SC2086
                run_wrk nginx "$file" "$conns" "$mode" "$nport" $npids
                run_wrk minicache "$file" "$conns" "$mode" 18480 "$mc"
                [ -z "${BASELINE:-}" ] || run_wrk baseline "$file" "$conns" "$mode" 18483 "$mb"
            done
        done
    done
    kill "$mc" "$ns" "$nl" ${mb:-} 2>/dev/null || true
    wait "$mc" ${mb:-} 2>/dev/null || true
    echo
    echo "==> ratios (minicache / nginx, same run)"
    python3 - "$results" <<'PY' | tee "$out/ratios.txt"
import sys, csv
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
key = lambda r: (r["file"], r["conns"], r["mode"])
nginx = {key(r): r for r in rows if r["server"] == "nginx"}
base = {key(r): r for r in rows if r["server"] == "baseline"}
head = f"{'file':>5} {'conns':>5} {'mode':>10} | {'mc req/s':>9} {'ngx req/s':>9} | {'mc Gb/s':>7} {'ngx Gb/s':>8} | {'mc cpu%':>7} {'ngx cpu%':>8} | {'mc req/cpu-s':>12} {'ngx req/cpu-s':>13} | {'x per cpu-s':>11} {'x Gb/s':>6}"
if base: head += f" | {'base x cpu-s':>12} {'base x Gb/s':>11} | {'mc/base cpu-s':>13}"
print(head)
for r in rows:
    if r["server"] != "minicache": continue
    n = nginx[key(r)]
    per = float(r["req_per_cpu_s"]) / max(1, float(n["req_per_cpu_s"]))
    gb = float(r["gbit_s"]) / max(0.0001, float(n["gbit_s"]))
    line = f"{r['file']:>5} {r['conns']:>5} {r['mode']:>10} | {r['req_s']:>9} {n['req_s']:>9} | {r['gbit_s']:>7} {n['gbit_s']:>8} | {r['cpu_pct']:>7} {n['cpu_pct']:>8} | {r['req_per_cpu_s']:>12} {n['req_per_cpu_s']:>13} | {per:>11.2f} {gb:>6.2f}"
    if key(r) in base:
        b = base[key(r)]
        bper = float(b["req_per_cpu_s"]) / max(1, float(n["req_per_cpu_s"]))
        bgb = float(b["gbit_s"]) / max(0.0001, float(n["gbit_s"]))
        line += f" | {bper:>12.2f} {bgb:>11.2f} | {float(r['req_per_cpu_s']) / max(1, float(b['req_per_cpu_s'])):>13.2f}"
    print(line)
PY
fi

if [ "${SKIP_TLS:-0}" != 1 ]; then
    echo
    echo "==> HTTPS ($duration s per run; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
    tls_results="$out/tls.tsv"
    printf "server\tload\tconns\tops_s\tgbit_s\tcpu_pct\tops_per_cpu_s\n" >"$tls_results"
    taskset -c 1 "$MINICACHE" serve "$work/bench.shfs" --listen-tls 127.0.0.1:18483 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
        --admin off --threads 1 --log-level warning &
    mct=$!; pids+=("$mct")
    mbt=
    if [ -n "${BASELINE:-}" ]; then
        taskset -c 1 "$BASELINE" serve "$work/bench.shfs" --listen-tls 127.0.0.1:18485 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
            --admin off --threads 1 --log-level warning &
        mbt=$!; pids+=("$mbt")
    fi
    nginx_tls_conf 18484 >"$work/nginx-tls.conf"
    taskset -c 1 nginx -c "$work/nginx-tls.conf" -p "$work" 2>/dev/null &
    nt=$!; pids+=("$nt")
    wait_port 18483; wait_port 18484
    [ -z "$mbt" ] || wait_port 18485
    nt_workers=$(pgrep -P "$nt" | tr '\n' ' ')
    # What each server negotiates with an OpenSSL client (wrk and h2load use OpenSSL too).
    for port in 18484 18483; do
        printf "port %s: " "$port"
        openssl s_client -connect 127.0.0.1:$port -servername localhost </dev/null 2>/dev/null \
            | awk '/^New, /{p=$2" "$5} /Server Temp Key/{k=$4" "$5} END{print p", key exchange "k}'
    done | tee "$out/tls-params.txt"
    # measure NAME LOAD CONNS PIDS -- COMMAND...: runs the client on CPU 0 and records the
    # operations per second it reports and the server's CPU over the same window.
    measure_tls() {
        local server=$1 load=$2 conns=$3 spids=$4
        shift 5
        local before after start end text
        before=$(cpu_ticks $spids)
        start=$(date +%s.%N)
        text=$(taskset -c 0 "$@" 2>&1 || true)
        end=$(date +%s.%N)
        after=$(cpu_ticks $spids)
        echo "$text" >"$out/tls-$server-$load-$conns.txt"
        python3 - "$server" "$load" "$conns" "$before" "$after" "$hz" "$start" "$end" "$text" >>"$tls_results" <<'PY'
import re, sys
server, load, conns, before, after, hz, start, end, text = sys.argv[1:]
gbit = 0.0
if "Requests/sec" in text:                      # wrk
    ops = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?)B", text)
    gbit = float(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)] * 8 / 1e9
    if re.search(r"Non-2xx or 3xx responses: (\d+)", text) or "Socket errors" in text and re.search(r"Socket errors: connect (\d+)", text).group(1) != "0":
        sys.exit(f"{server} {load}: errors; see {load} output")
elif "real seconds" in text:                    # openssl s_time: "N connections in T real seconds"
    ops = int(re.search(r"(\d+) connections in \d+ real seconds", text).group(1)) / (float(end) - float(start))
elif "finished in" in text:                     # h2load
    ops = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text).group(1))
    if not re.search(r"requests: \d+ total, \d+ started, (\d+) done, \1 succeeded", text):
        sys.exit(f"{server} {load}: h2load saw failed requests")
else:
    sys.exit(f"{server} {load}: no result in the client's output:\n{text}")
cpu = (int(after) - int(before)) / int(hz) / (float(end) - float(start))
print(f"{server}\t{load}\t{conns}\t{ops:.0f}\t{gbit:.2f}\t{cpu*100:.0f}\t{ops / cpu if cpu > 0 else 0:.0f}")
PY
        tail -1 "$tls_results"
    }
    tls_loads=" ${TLS_LOADS:-wrk handshake h2} "
    if [[ "$tls_loads" == *" wrk "* ]]; then
        for file in ${TLS_FILES:-1k 1m}; do
            for conns in 10 100; do
                measure_tls nginx "wrk-$file" "$conns" "$nt $nt_workers" -- wrk -t1 -c"$conns" -d"${duration}s" "https://127.0.0.1:18484/$file"
                measure_tls minicache "wrk-$file" "$conns" "$mct" -- wrk -t1 -c"$conns" -d"${duration}s" "https://127.0.0.1:18483/$file"
                [ -z "$mbt" ] || measure_tls baseline "wrk-$file" "$conns" "$mbt" -- wrk -t1 -c"$conns" -d"${duration}s" "https://127.0.0.1:18485/$file"
            done
        done
    fi
    if [[ "$tls_loads" == *" handshake "* ]]; then
        for kind in new reuse; do
            measure_tls nginx "handshake-$kind" 1 "$nt $nt_workers" -- openssl s_time -connect 127.0.0.1:18484 -$kind -time "$duration" -www /0b
            measure_tls minicache "handshake-$kind" 1 "$mct" -- openssl s_time -connect 127.0.0.1:18483 -$kind -time "$duration" -www /0b
            [ -z "$mbt" ] || measure_tls baseline "handshake-$kind" 1 "$mbt" -- openssl s_time -connect 127.0.0.1:18485 -$kind -time "$duration" -www /0b
        done
    fi
    if [[ "$tls_loads" == *" h2 "* ]]; then
        measure_tls nginx h2-1k-100streams 1 "$nt $nt_workers" -- h2load -D "$duration" -c 1 -m 100 "https://127.0.0.1:18484/1k"
        measure_tls minicache h2-1k-100streams 1 "$mct" -- h2load -D "$duration" -c 1 -m 100 "https://127.0.0.1:18483/1k"
        [ -z "$mbt" ] || measure_tls baseline h2-1k-100streams 1 "$mbt" -- h2load -D "$duration" -c 1 -m 100 "https://127.0.0.1:18485/1k"
    fi
    kill "$mct" "$nt" $mbt 2>/dev/null || true
    wait "$mct" $mbt 2>/dev/null || true
    echo
    echo "==> HTTPS ratios (minicache, and BASELINE if given, / nginx, same run)"
    python3 - "$tls_results" <<'PY' | tee "$out/tls-ratios.txt"
import sys, csv
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
nginx = {(r["load"], r["conns"]): r for r in rows if r["server"] == "nginx"}
print(f"{'server':>9} {'load':>18} {'conns':>5} | {'mc ops/s':>9} {'ngx ops/s':>9} | {'mc Gb/s':>7} {'ngx Gb/s':>8} | {'mc cpu%':>7} {'ngx cpu%':>8} | {'mc ops/cpu-s':>12} {'ngx ops/cpu-s':>13} | {'x per cpu-s':>11} {'x Gb/s':>6}")
for r in rows:
    if r["server"] not in ("minicache", "baseline") or (r["load"], r["conns"]) not in nginx: continue
    n = nginx[(r["load"], r["conns"])]
    per = float(r["ops_per_cpu_s"]) / max(1, float(n["ops_per_cpu_s"]))
    gb = float(r["gbit_s"]) / max(0.0001, float(n["gbit_s"])) if float(n["gbit_s"]) > 0 else 0
    print(f"{r['server']:>9} {r['load']:>18} {r['conns']:>5} | {r['ops_s']:>9} {n['ops_s']:>9} | {r['gbit_s']:>7} {n['gbit_s']:>8} | {r['cpu_pct']:>7} {n['cpu_pct']:>8} | {r['ops_per_cpu_s']:>12} {n['ops_per_cpu_s']:>13} | {per:>11.2f} {gb:>6.2f}")
PY
fi

if [ "${SKIP_STARTUP:-0}" != 1 ]; then
    echo
    echo "==> start-up (exec -> first 200 OK, median of ${STARTUP_RUNS:-20}) and RSS; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    nginx_conf 18491 off >"$work/nginx-startup.conf"
    varnish=""
    command -v varnishd >/dev/null && varnish="$(command -v varnishd)"
    python3 - "$MINICACHE" "$work" "$varnish" "${STARTUP_RUNS:-20}" "${BASELINE:-}" <<'PY' | tee "$out/startup.txt"
import os, socket, ssl, statistics, subprocess, sys, time
minicache, work, varnishd, runs, baseline = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
REQUEST = b"GET /1k HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
TLS_PORTS = {18493}
tls_context = ssl.create_default_context()
tls_context.check_hostname = False
tls_context.verify_mode = ssl.CERT_NONE

def get_ok(port):
    # 5 s: on a loaded machine a TLS handshake can take more than a second.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if port in TLS_PORTS:
        s = tls_context.wrap_socket(s, server_hostname="localhost")
    try:
        s.sendall(REQUEST)
        return s.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        s.close()

def first_ok(port, deadline):
    while time.perf_counter() < deadline:
        try:
            if get_ok(port):
                return True
        except OSError:
            pass
        time.sleep(0.0002)
    return False

def tree(pid):
    """pid and all its descendants."""
    pids, i = [pid], 0
    while i < len(pids):
        out = subprocess.run(["pgrep", "-P", str(pids[i])], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
        i += 1
    return pids

def on_cpu_ms(pid):
    """Time on CPU of every thread of the process tree so far (schedstat), in ms."""
    total = 0
    for p in tree(pid):
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                total += int(open(f"/proc/{p}/task/{t}/schedstat").read().split()[0])
        except OSError:
            pass
    return total / 1e6

def memory_mib(pid):
    """(VmRSS, RssAnon, Pss) summed over the process tree in MiB, and the number of processes."""
    rss = anon = pss = 0
    pids = tree(pid)
    for p in pids:
        for line in open(f"/proc/{p}/status"):
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("RssAnon:"):
                anon += int(line.split()[1])
        for line in open(f"/proc/{p}/smaps_rollup"):
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
    return rss / 1024, anon / 1024, pss / 1024, len(pids)

results = {}
def measure(name, argv, port):
    walls, cpus = [], []
    for i in range(runs):
        start = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = first_ok(port, start + 30)
        wall = (time.perf_counter() - start) * 1000
        if not ok:
            print(f"{name}: no 200 within 30 s"); p.kill(); p.wait(); return
        try:
            cpus.append(on_cpu_ms(p.pid))
            walls.append(wall)
            if i == runs - 1:
                time.sleep(1)
                idle = memory_mib(p.pid)
                for _ in range(1000):
                    get_ok(port)
                time.sleep(1)
                served = memory_mib(p.pid)
        finally:
            # Never leave a server behind: it would answer the next measurement on its port.
            p.terminate(); p.wait()
        time.sleep(0.05)
    q = statistics.quantiles(walls, n=4)
    results[name] = (statistics.median(walls), statistics.median(cpus))
    print(f"{name:28s} wall median {statistics.median(walls):7.2f} ms (min {min(walls):.2f}, p25 {q[0]:.2f}, p75 {q[2]:.2f}, max {max(walls):.2f});"
          f" on CPU median {statistics.median(cpus):6.2f} ms (min {min(cpus):.2f}, max {max(cpus):.2f})")
    print(f"{'':28s} RSS 1 s after the first 200: {idle[0]:6.2f} MiB (anon {idle[1]:.2f}, PSS {idle[2]:.2f});"
          f" after 1,000 more requests: {served[0]:6.2f} MiB (anon {served[1]:.2f}, PSS {served[2]:.2f}); {idle[3]} process(es)")

measure("minicache (--threads 1)", ["taskset", "-c", "1", minicache, "serve", f"{work}/bench.shfs", "--listen", "127.0.0.1:18490", "--admin", "off", "--threads", "1", "--log-level", "warning"], 18490)
measure("minicache TLS only (--threads 1)", ["taskset", "-c", "1", minicache, "serve", f"{work}/bench.shfs", "--listen-tls", "127.0.0.1:18493", "--tls-cert", f"{work}/cert.pem", "--tls-key", f"{work}/key.pem", "--admin", "off", "--threads", "1", "--log-level", "warning"], 18493)
measure("minicache (default threads)", [minicache, "serve", f"{work}/bench.shfs", "--listen", "127.0.0.1:18490", "--log-level", "warning", "--admin", "off"], 18490)
if baseline:
    measure("baseline (--threads 1)", ["taskset", "-c", "1", baseline, "serve", f"{work}/bench.shfs", "--listen", "127.0.0.1:18490", "--admin", "off", "--threads", "1", "--log-level", "warning"], 18490)
measure("nginx (1 worker)", ["nginx", "-c", f"{work}/nginx-startup.conf", "-p", work], 18491)
if varnishd:
    backend = subprocess.Popen(["nginx", "-c", f"{work}/nginx-startup.conf", "-p", work], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_ok(18491, time.perf_counter() + 10)
    measure("varnish (nginx backend)", [varnishd, "-F", "-b", "127.0.0.1:18491", "-a", "127.0.0.1:18492", "-n", f"{work}/varnish", "-s", "malloc,64m"], 18492)
    backend.terminate(); backend.wait()
if "nginx (1 worker)" in results:
    wall, cpu = results["nginx (1 worker)"]
    print("start-up relative to nginx (medians; below 1 is faster):")
    for name, (w, c) in results.items():
        print(f"  {name:28s} wall {w / wall:5.2f}x  on CPU {c / cpu:5.2f}x")
PY
fi
echo
echo "results in $out (machine shared with other work: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
