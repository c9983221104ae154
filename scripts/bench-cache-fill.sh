#!/usr/bin/env bash
# Fills per second into a pull-through cache volume that already holds N cached objects: misses
# for new URLs go to the origin, are relayed and stored; a fill counts once the object is visible
# in the served table (GET /admin/status volume.objects). Measured end to end over HTTP.
#
#   scripts/bench-cache-fill.sh [N ...]      (default: 10000 100000)
#
#   MINICACHE       the binary measured (default: a release build of this tree)
#   BASELINE        a second binary measured in the same run on a copy of the same prefilled
#                   volume (e.g. a release build of an older commit)
#   FILLS           timed fills per run (default 1000); BASELINE_FILLS for the baseline (default 100)
#   BODY            body bytes per object (default 512)
#   OUT             results file (default bench-results/cache-fill-<date>.txt)
#   PORT_BASE       origin on PORT_BASE, server on +1, admin on +2 (default 28601)
#
# The volume is prefilled through MINICACHE itself (N fills over HTTP). Server pinned to CPU 1,
# origin and client to CPU 0. Needs python3 and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(10000 100000)
fills="${FILLS:-1000}"
baseline_fills="${BASELINE_FILLS:-100}"
body="${BODY:-512}"
scratch="${SCRATCH_PATH:-.build-cache-release}"
out="${OUT:-bench-results/cache-fill-$(date -u +%Y%m%dT%H%M%SZ).txt}"
work="$(mktemp -d /tmp/minicache-fill-bench.XXXXXX)"
mkdir -p "$(dirname "$out")"
pids=()
cleanup() {
    for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    sleep 0.2
    rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${MINICACHE:-}" ]; then
    echo "==> building minicache and shfs (release)"
    swift build -c release --scratch-path "$scratch" --product minicache >/dev/null
    MINICACHE="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/minicache"
fi
shfs="$(dirname "$MINICACHE")/shfs"
if [ ! -x "$shfs" ]; then
    swift build -c release --scratch-path "$scratch" --product shfs >/dev/null
    shfs="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/shfs"
fi

cat >"$work/origin.py" <<'PY'
import http.server, socketserver, sys
body = b"x" * int(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=86400")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
Server.allow_reuse_address = True
Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
cat >"$work/fill.py" <<'PY'
# fill.py PORT ADMIN_PORT PREFIX COUNT EXPECTED_OBJECTS: requests COUNT new URLs over 8 keep-alive
# connections, then waits until the server lists the objects; prints fills/s.
import http.client, json, sys, threading, time
port, admin, prefix, count, expected = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def objects():
    c = http.client.HTTPConnection("127.0.0.1", admin, timeout=60)
    c.request("GET", "/admin/status")
    return json.loads(c.getresponse().read())["volume"]["objects"]
def worker(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in range(k, count, 8):
        c.request("GET", f"/{prefix}/{i}")
        r = c.getresponse(); r.read()
        if r.status != 200:
            sys.exit(f"GET /{prefix}/{i}: {r.status}")
start = time.monotonic()
threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
# Wait until the table lists every object, or stops growing for 5 s within 2 % of the fills of
# the target (a few objects can go to full hash buckets).
last, changed = objects(), time.monotonic()
while last < expected:
    time.sleep(0.02)
    now = objects()
    if now != last: last, changed = now, time.monotonic()
    if time.monotonic() - changed > 5 and last >= expected - count // 50: break
    if time.monotonic() - changed > 120: sys.exit(f"stuck at {last} of {expected} objects")
elapsed = changed - start if last < expected else time.monotonic() - start
print(f"{count / elapsed:.1f}")
PY

base="${PORT_BASE:-28601}"
origin_port=$base
port=$((base + 1))
admin=$((base + 2))
taskset -c 0 python3 "$work/origin.py" "$origin_port" "$body" & pids+=($!)
sleep 0.5

serve() { # binary volume port admin
    taskset -c 1 "$1" serve "$2" --origin "http://127.0.0.1:$origin_port" --listen "127.0.0.1:$3" \
        --admin "127.0.0.1:$4" --threads 1 --log-level error --ready-file "$work/ready" &
    pids+=($!)
    for _ in $(seq 1 500); do [ -s "$work/ready" ] && break; sleep 0.02; done
    rm -f "$work/ready"
}
stop_last() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

{
    echo "# minicache cache fills per second ($(date -u +%FT%TZ), $(nproc) cores, $(uname -r))"
    echo "# body $body bytes, 8 client connections, server on CPU 1, origin and client on CPU 0"
    echo "# $(scripts/package-versions.sh)"
    echo "# objects_before  binary  fills  fills_per_second"
} | tee "$out"
for n in "${sizes[@]}"; do
    buckets=$(( (n / 2 + 1023) / 1024 * 1024 ))
    [ "$buckets" -lt 2048 ] && buckets=2048
    # Objects take two 4 KiB chunks (metadata area + body); the table 2 KiB per bucket.
    size_mib=$(( (n + fills + 1000) * 8 / 1024 + buckets / 512 + 64 ))
    "$shfs" mkfs "$work/v$n.shfs" --size "${size_mib}M" --chunk-size 4K --buckets "$buckets" --force >/dev/null
    echo "==> prefilling $n objects" >&2
    serve "$MINICACHE" "$work/v$n.shfs" "$port" "$admin"
    taskset -c 0 python3 "$work/fill.py" "$port" "$admin" prefill "$n" "$n" >/dev/null
    n_listed=$(python3 -c "import json,urllib.request; print(json.load(urllib.request.urlopen('http://127.0.0.1:$admin/admin/status'))['volume']['objects'])")
    stop_last
    cp --sparse=always "$work/v$n.shfs" "$work/v$n-baseline.shfs"
    serve "$MINICACHE" "$work/v$n.shfs" "$port" "$admin"
    rate=$(taskset -c 0 python3 "$work/fill.py" "$port" "$admin" timed "$fills" "$((n_listed + fills))")
    stop_last
    echo "$n  minicache  $fills  $rate" | tee -a "$out"
    if [ -n "${BASELINE:-}" ]; then
        serve "$BASELINE" "$work/v$n-baseline.shfs" "$port" "$admin"
        rate=$(taskset -c 0 python3 "$work/fill.py" "$port" "$admin" timed "$baseline_fills" "$((n_listed + baseline_fills))")
        stop_last
        echo "$n  baseline  $baseline_fills  $rate" | tee -a "$out"
    fi
    rm -f "$work/v$n.shfs" "$work/v$n-baseline.shfs"
done
echo "results: $out"
