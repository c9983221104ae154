#!/usr/bin/env bash
# Heap allocations per request of a release minicache, counted by gdb (breakpoints on the malloc
# family that are never taken but count their hits) while a client sends requests: a 1 KiB object on a
# keep-alive connection, 16 pipelined requests for it, and the cache's fast hit (--origin, one
# object warmed first). The tests pin these counts for the debug build (AllocationTests); this
# measures what ships. Counts include everything the process does meanwhile (the `Date` refresh
# four times a second), so they are an upper bound.
#
#   count-allocations.sh MINICACHE [MINICACHE...]   each binary in turn, the same requests
#   REQUESTS   requests per measurement (default 5000)
#
# Needs: gdb, nginx (the origin), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 MINICACHE [MINICACHE...]" >&2; exit 2; }
for tool in gdb objcopy nginx python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y gdb nginx" >&2; exit 1; }
done
requests="${REQUESTS:-5000}"
work="$(mktemp -d /tmp/minicache-allocs.XXXXXX)"
origin=""
trap '[ -z "$origin" ] || kill "$origin" 2>/dev/null; rm -rf "$work"' EXIT

swift build --scratch-path "${SCRATCH_PATH:-.build-server}" --product shfs >/dev/null
shfs="$(swift build --scratch-path "${SCRATCH_PATH:-.build-server}" --show-bin-path)/shfs"
mkdir -p "$work/www"
head -c 1024 /dev/urandom >"$work/www/1k"
chmod -R a+rX "$work"
"$shfs" mkfs "$work/static.shfs" --size 16M --name static --force >/dev/null
"$shfs" add "$work/static.shfs" "$work/www/1k" --name 1k --mime application/octet-stream >/dev/null
cat >"$work/origin.conf" <<CONF
worker_processes 1; daemon off; pid $work/origin.pid; error_log $work/origin.err warn;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work/b; proxy_temp_path $work/p; fastcgi_temp_path $work/f;
  uwsgi_temp_path $work/u; scgi_temp_path $work/s;
  server { listen 127.0.0.1:18520; root $work/www; add_header Cache-Control "max-age=3600"; } }
CONF
nginx -c "$work/origin.conf" -p "$work" 2>/dev/null &
origin=$!

# measure BINARY NAME DEPTH ARGS...: runs BINARY serve ARGS under gdb, warms up, and prints the
# allocations per request over $requests requests sent DEPTH at a time.
measure() {
    local binary=$1 name=$2 depth=$3
    shift 3
    # Without debug information gdb starts in seconds instead of a minute.
    objcopy --strip-debug "$binary" "$work/minicache"
    python3 - "$work" "$name" "$depth" "$requests" "$work/minicache" serve "$@" --listen 127.0.0.1:18521 --admin off --threads 1 \
        --log-level error <<'PY'
import os, re, signal, socket, subprocess, sys, time
work, name, depth, count, argv = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
log = open(f"{work}/gdb.txt", "w")
commands = ["set pagination off", "handle SIGUSR2 stop print nopass"]
commands += [f"break {f}" for f in ("malloc", "calloc", "realloc", "posix_memalign")]
commands += [f"ignore {n} 1000000000" for n in (1, 2, 3, 4)]
commands += ["run", "info breakpoints", "continue", "info breakpoints", "kill"]
gdb = subprocess.Popen(["gdb", "-q", "-batch"] + sum((["-ex", c] for c in commands), []) + ["--args"] + argv, stdout=log, stderr=log)

def hits():
    """The breakpoint tables gdb printed so far, summed per table."""
    tables = open(f"{work}/gdb.txt").read().split("Num     Type")[1:]
    return [sum(int(h) for h in re.findall(r"already hit (\d+) time", t)) for t in tables if "ignore next" in t]

def wait(condition, what, seconds=300):
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline or gdb.poll() is not None:
            gdb.kill()
            sys.exit(f"{name}: {what} did not happen; see {work}/gdb.txt")
        time.sleep(0.1)

def connect():
    try:
        return socket.create_connection(("127.0.0.1", 18521), timeout=30)
    except OSError:
        return None
connection = [None]
wait(lambda: connection.__setitem__(0, connect()) or connection[0] is not None, "the server's start")
s = connection[0]
request = b"GET /1k HTTP/1.1\r\nHost: bench\r\n\r\n" * depth
def run(n):
    buffer = b""
    for _ in range(n // depth):
        s.sendall(request)
        seen = 0
        while seen < depth:
            head = buffer.find(b"\r\n\r\n")
            if head >= 0:
                length = int(re.search(rb"content-length: (\d+)", buffer[:head].lower()).group(1))
                if len(buffer) >= head + 4 + length:
                    buffer = buffer[head + 4 + length:]
                    seen += 1
                    continue
            chunk = s.recv(1 << 20)
            if not chunk: sys.exit(f"{name}: the server closed the connection")
            buffer += chunk
inferior = int(subprocess.run(["pgrep", "-P", str(gdb.pid)], capture_output=True, text=True).stdout.split()[0])
run(1000)
time.sleep(0.5)
os.kill(inferior, signal.SIGUSR2)
wait(lambda: len(hits()) >= 1, "the first count")
time.sleep(0.5)
run(count)
os.kill(inferior, signal.SIGUSR2)
wait(lambda: len(hits()) >= 2, "the second count")
gdb.wait()
first, second = hits()[:2]
print(f"{name:>22}: {(second - first) / count:6.2f} allocations per request", flush=True)
PY
}

for binary in "$@"; do
    echo "$binary"
    measure "$binary" "keep-alive 1 KiB" 1 "$work/static.shfs"
    measure "$binary" "pipelined 16, 1 KiB" 16 "$work/static.shfs"
    rm -f "$work/cache.shfs"
    "$shfs" mkfs "$work/cache.shfs" --size 16M --name cache --force >/dev/null
    measure "$binary" "cache fast hit 1 KiB" 1 "$work/cache.shfs" --origin http://127.0.0.1:18520
done
