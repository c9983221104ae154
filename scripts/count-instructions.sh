#!/usr/bin/env bash
# User-space instructions per request of release minicache binaries, counted by valgrind's
# callgrind while a client sends 1 KiB requests: one at a time on keep-alive connections, and
# 16 pipelined. Unlike req/s and CPU-seconds, the count does not depend on what else runs on the
# machine, so two builds can be compared on a busy one to within a fraction of a percent (the
# kernel's share, most of a request's cost, is not counted: measure it with bench-minicache.sh).
# Counters are zeroed after a warm-up and dumped after the requests, so start-up is left out.
#
#   count-instructions.sh MINICACHE [MINICACHE...]   each binary in turn, the same requests
#   REQUESTS     requests per measurement (default 16000)
#   CONNECTIONS  client connections, served in turn (default 10)
#   FUNCTIONS    also print the N functions with the most instructions of their own (default 0)
#
# Needs: valgrind (apt-get install -y valgrind), objcopy, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 MINICACHE [MINICACHE...]" >&2; exit 2; }
for tool in valgrind callgrind_control callgrind_annotate objcopy python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y valgrind binutils python3" >&2; exit 1; }
done
requests="${REQUESTS:-16000}"
connections="${CONNECTIONS:-10}"
work="$(mktemp -d /tmp/minicache-instructions.XXXXXX)"
server=""
trap '[ -z "$server" ] || kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

swift build --scratch-path "${SCRATCH_PATH:-.build-server}" --product shfs >/dev/null
shfs="$(swift build --scratch-path "${SCRATCH_PATH:-.build-server}" --show-bin-path)/shfs"
head -c 1024 /dev/urandom >"$work/1k"
"$shfs" mkfs "$work/static.shfs" --size 16M --name static --force >/dev/null
"$shfs" add "$work/static.shfs" "$work/1k" --name 1k --mime application/octet-stream >/dev/null

# The client: DEPTH requests at a time on each of the connections in turn, every response read
# whole (they all have the length of the first).
cat >"$work/client.py" <<'PY'
import socket, sys
port, total, connections, depth = (int(a) for a in sys.argv[1:5])
request = b"GET /1k HTTP/1.1\r\nHost: bench\r\n\r\n"
sockets = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in range(connections)]

def first(s):
    s.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit(f"unexpected answer: {head[:80]!r}")
    length = int(next(l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")).split(b":")[1])
    while len(body) < length:
        body += s.recv(65536)
    return len(head) + 4 + length

size = [first(s) for s in sockets][0]
batch = request * depth
rounds = max(1, total // (connections * depth))
for _ in range(rounds):
    for s in sockets:
        s.sendall(batch)
    for s in sockets:
        left = size * depth
        while left > 0:
            chunk = s.recv(min(left, 1 << 20))
            if not chunk:
                sys.exit("the server closed a connection")
            left -= len(chunk)
print(rounds * connections * depth)
PY

wait_port() { for _ in $(seq 1 600); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

printf "%-60s %-12s %10s %14s %12s\n" binary load requests instructions "per request"
for binary in "$@"; do
    # valgrind 3.19 cannot read the DWARF 5 that Swift writes; the symbol table is enough.
    objcopy --strip-debug "$binary" "$work/minicache"
    for depth in 1 16; do
        port=18530
        rm -f "$work"/callgrind.*
        valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p" "$work/minicache" serve "$work/static.shfs" \
            --listen 127.0.0.1:$port --admin off --threads 1 --log-level error 2>"$work/valgrind.log" &
        server=$!
        wait_port $port || { echo "the server did not start; see valgrind's log:" >&2; cat "$work/valgrind.log" >&2; exit 1; }
        python3 "$work/client.py" $port $((connections * depth * 20)) "$connections" "$depth" >/dev/null
        callgrind_control -z "$server" >/dev/null 2>&1
        served=$(python3 "$work/client.py" $port "$requests" "$connections" "$depth")
        callgrind_control -d "$server" >/dev/null 2>&1
        kill "$server"
        wait "$server" 2>/dev/null || true
        server=""
        dump=$(ls "$work"/callgrind.*.1)
        total=$(callgrind_annotate "$dump" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
        load=$([ "$depth" = 1 ] && echo keep-alive || echo "pipelined16")
        printf "%-60s %-12s %10d %14d %12d\n" "$binary" "$load" "$served" "$total" $((total / served))
        if [ "${FUNCTIONS:-0}" -gt 0 ]; then
            # The thread's entry points carry everything below them: left out.
            callgrind_annotate --threshold=100 "$dump" | grep -E '^ *[0-9,]+ \( *[0-9]\.|^ *[0-9,]+ \( *[1-8][0-9]\.' |
                head -n "$FUNCTIONS" | sed 's/ \[[^]]*\]$//' | cut -c1-160
        fi
    done
done
