#!/usr/bin/env bash
# Derives the sandbox backend's seccomp allow-list: the system calls `minicache` makes while it
# starts, serves a volume over plain HTTP/1.1 and over TLS (HTTP/2 and HTTP/1.1 by ALPN, TLS 1.2
# and 1.3, SNI, a bad handshake; small and large objects, ranges, conditionals, bad requests,
# many connections and streams at once), fills from an origin (live playlists and segments,
# VoD, over both listeners), answers its admin API (status, objects, metrics, prefetch, remount,
# purge) and stops on SIGTERM, traced with `strace -f`. Each binary runs the workload twice (large objects by sendfile and by
# pooled reads). The union over the binaries, plus a small base set (below), becomes
# Sources/CSandbox/syscalls.h.
#
#   scripts/sandbox-syscalls.sh [MINICACHE ...]
#
# Default binaries: the debug build (dynamic: its loader's calls are included) and the release
# builds in .build-release and .build-static when they exist. Needs strace, curl (with HTTP/2)
# and openssl (and wrk, if present, for the many-connections part). Re-run it after a change to minicache, SwiftNIO or the Swift
# runtime, and commit the header; the sandbox tests fail (SIGSYS) when a call is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v strace >/dev/null || { echo "needs strace (apt-get install strace)" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl (apt-get install curl)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "needs openssl (apt-get install openssl)" >&2; exit 1; }

swift build --product minicache >/dev/null
swift build --product shfs >/dev/null
swift build --product ecdn >/dev/null
bin="$(swift build --show-bin-path)"
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
    binaries=("$bin/minicache")
    for release in .build-release/release/minicache .build-static/release/minicache; do
        [ -x "$release" ] && binaries+=("$release")
    done
fi

work="$(mktemp -d /tmp/sandbox-syscalls.XXXXXX)"
origin_pid=""
cleanup() {
    [ -n "$origin_pid" ] && kill "$origin_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Calls the workload may not reach but a healthy minicache makes: the sandbox's own execve;
# ending a process or thread; signal returns and restarted calls; what the Swift runtime and
# glibc do under memory pressure, on a crash report or when a thread pool grows or shrinks; the
# live edge's fill file (memfd_create) and the store's hole punch before it reuses a chunk
# (fallocate), which need joiners of a fill and a full volume.
base="execve exit exit_group rt_sigreturn restart_syscall rt_sigaction rt_sigprocmask sigaltstack
      tgkill gettid getpid madvise mremap munmap mmap mprotect brk futex sched_yield nanosleep
      clock_nanosleep clock_gettime getrandom set_robust_list rseq clone clone3 memfd_create fallocate"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.05; done; echo "timed out waiting for $1" >&2; return 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

origin_port=$(free_port)
"$bin/ecdn" origin --port "$origin_port" --segment-duration 1 >"$work/origin.log" 2>&1 &
origin_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$origin_port/status" >/dev/null && break; sleep 0.1; done

"$bin/shfs" mkfs "$work/site.shfs" --size 64M --name site --force >/dev/null
"$bin/shfs" import "$work/site.shfs" Samples/site >/dev/null

run() { # binary, run number, extra arguments...
    local minicache="$1" n="$2"
    shift 2
    local port admin tls volume="$work/cache-$n.shfs"
    port=$(free_port)
    admin=$(free_port)
    tls=$(free_port)
    cp "$work/site.shfs" "$volume"
    rm -f "$work/ready-$n"
    strace -f -qq -o "$work/trace-$n.txt" "$minicache" serve "$volume" --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin" \
        --listen-tls "127.0.0.1:$tls" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --origin "http://127.0.0.1:$origin_port" --ready-file "$work/ready-$n" --threads 2 "$@" >"$work/minicache-$n.log" 2>&1 &
    local pid=$!
    wait_for "$work/ready-$n"
    local u="http://127.0.0.1:$port"
    {
        curl -s "$u/"; curl -sI "$u/"; curl -s -H 'Range: bytes=0-99' "$u/"; curl -s -H 'If-None-Match: "x"' "$u/"
        curl -s "$u/index.html"; curl -s "$u/does-not-exist"
        curl -s "$u/live/1/index.m3u8"; curl -s "$u/live/1/1/index.m3u8"
        curl -s "$u/vod/trailer.mp4"; curl -s -H 'Range: bytes=1000-200000' "$u/vod/trailer.mp4"; curl -s "$u/vod/trailer.mp4"
        curl -s "$u/vod/movie1.mp4"
        printf 'GARBAGE\r\n\r\n' | curl -s --max-time 1 telnet://127.0.0.1:"$port" || true
        curl -s -X POST "$u/live/1/index.m3u8"; curl -s -X DELETE "$u/vod/trailer.mp4"
        curl -s "http://127.0.0.1:$admin/admin/status"; curl -s "http://127.0.0.1:$admin/admin/objects"
        curl -s "http://127.0.0.1:$admin/metrics"; curl -s -X POST "http://127.0.0.1:$admin/admin/prefetch"
        curl -s -X POST "http://127.0.0.1:$admin/admin/remount"; curl -s -X POST "http://127.0.0.1:$admin/admin/purge?prefix=%2Flive%2F"
    } >/dev/null 2>&1 || true
    local s="https://127.0.0.1:$tls" k=(-s --cacert "$work/cert.pem")
    {
        curl "${k[@]}" --http2 "$s/"; curl "${k[@]}" --http1.1 "$s/"; curl "${k[@]}" --http2 -I "$s/index.html"
        curl "${k[@]}" --http2 -H 'Range: bytes=0-99' "$s/vod/trailer.mp4"; curl "${k[@]}" --http2 "$s/vod/movie2.mp4"
        curl "${k[@]}" --http1.1 --tlsv1.2 --tls-max 1.2 "$s/vod/movie1.mp4"; curl "${k[@]}" --http2 --tlsv1.3 "$s/live/1/1/index.m3u8"
        curl -sk --http2 --resolve "other.test:$tls:127.0.0.1" "https://other.test:$tls/"
        curl "${k[@]}" --http2 "$s/live/1/index.m3u8" "$s/live/1/1/index.m3u8" "$s/does-not-exist" "$s/index.html"
        printf 'GARBAGE\r\n\r\n' | curl -s --max-time 1 telnet://127.0.0.1:"$tls" || true
        curl -s --max-time 1 "http://127.0.0.1:$tls/" || true
    } >/dev/null 2>&1 || true
    seq 200 | xargs -P 16 -I{} curl -s -o /dev/null "$u/live/1/1/index.m3u8?n={}" || true
    if command -v wrk >/dev/null; then wrk -t 2 -c 200 -d 2 "$u/" >/dev/null 2>&1 || true; fi
    # Many streams at once on four h2 connections.
    (
        for _ in 1 2 3 4; do
            seq 100 | sed "s|.*|url = \"$s/live/1/1/index.m3u8?n=&\"|" | curl "${k[@]}" --http2 --parallel --parallel-max 50 -K - >/dev/null 2>&1 &
        done
        wait
    ) || true
    sleep 1.2 # past minicache's half-second hand-back of start-up code pages
    # SIGTERM to minicache itself (strace does not pass its own on), then strace ends with it.
    pkill -TERM -P "$pid" || true
    wait "$pid" || true
}

n=0
for minicache in "${binaries[@]}"; do
    echo "tracing $minicache" >&2
    n=$((n + 1)); run "$minicache" "$n" --large-objects sendfile
    n=$((n + 1)); run "$minicache" "$n" --large-objects read
done

seen=$(cat "$work"/trace-*.txt | sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p' | sort -u)
all=$(printf '%s\n' $seen $base | sort -u)

out=Sources/CSandbox/syscalls.h
{
    echo "// The system calls a sandboxed minicache may make (its seccomp allow-list)."
    echo "// Generated by scripts/sandbox-syscalls.sh from strace runs of:"
    for minicache in "${binaries[@]}"; do echo "//   $(file -b "$minicache" 2>/dev/null | cut -d, -f1-2 | head -c 60) ($minicache)"; done
    echo "// plus its base set. Do not edit by hand: run the script."
    for name in $all; do
        printf '#ifdef __NR_%s\nCS_SYSCALL(%s)\n#endif\n' "$name" "$name"
    done
} >"$out"
echo "$(echo "$all" | wc -l) system calls ($(echo "$seen" | wc -l) seen, the rest from the base set) -> $out" >&2
