#!/usr/bin/env bash
# User-space instructions `minicache serve` runs from exec to ready (its --ready-file written),
# over all its threads, counted by valgrind's callgrind: unlike wall and CPU time the count does
# not depend on what else runs on the machine, so two builds can be compared on a busy one. Two
# rows per binary, as in scripts/bench-minicache-start.sh: a pull-through cache (--origin) and
# the volume alone, each started on the same empty volume with --threads 1, an admin listener and
# a ready file. The counters are dumped the moment the ready file appears; the count is the
# median of RUNS starts (they differ by a fraction of a percent).
#
#   scripts/count-start-instructions.sh MINICACHE [MINICACHE...]
#   RUNS       starts per row (default 3)
#   FUNCTIONS  also print the N functions with the most instructions of their own, per row (default 0)
#
# Needs: valgrind (apt-get install -y valgrind), objcopy, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 MINICACHE [MINICACHE...]" >&2; exit 2; }
for tool in valgrind callgrind_control callgrind_annotate objcopy python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y valgrind binutils python3" >&2; exit 1; }
done
runs=${RUNS:-3}
work=$(mktemp -d /tmp/minicache-start-instructions.XXXXXX)
server=""
trap '[ -z "$server" ] || kill -9 "$server" 2>/dev/null; rm -rf "$work"' EXIT
. scripts/lib/find-shfs.sh
"$shfs" mkfs "$work/volume.shfs" --size 64M >/dev/null
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
printf "%-50s %-10s %16s  %s\n" minicache cache "instructions" "(each start)"
index=0
for binary in "$@"; do
    index=$((index + 1))
    # valgrind 3.19 cannot read the DWARF 5 that Swift writes; the symbol table is enough.
    objcopy --strip-debug "$binary" "$work/minicache-$index"
    for mode in origin plain; do
        extra=()
        [ "$mode" = origin ] && extra=(--origin http://127.0.0.1:9)
        counts=()
        for _ in $(seq 1 "$runs"); do
            rm -f "$work"/callgrind.* "$work/ready"
            valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p" "$work/minicache-$index" serve "$work/volume.shfs" \
                --listen 127.0.0.1:18692 --admin 127.0.0.1:18693 --ready-file "$work/ready" --threads 1 "${extra[@]}" \
                2>"$work/valgrind.log" &
            server=$!
            for _ in $(seq 1 1200); do [ -e "$work/ready" ] && break; kill -0 "$server" 2>/dev/null || break; sleep 0.05; done
            [ -e "$work/ready" ] || { echo "$binary did not get ready under valgrind; its log:" >&2; cat "$work/valgrind.log" >&2; exit 1; }
            callgrind_control -d "$server" >/dev/null 2>&1
            kill -9 "$server"
            wait "$server" 2>/dev/null || true
            server=""
            dump=$(ls "$work"/callgrind.*.1)
            counts+=("$(callgrind_annotate "$dump" | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')")
        done
        median=$(printf "%s\n" "${counts[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
        label=$([ "$mode" = origin ] && echo "--origin" || echo "no origin")
        printf "%-50s %-10s %16d  %s\n" "$binary" "$label" "$median" "${counts[*]}"
        if [ "${FUNCTIONS:-0}" -gt 0 ]; then
            callgrind_annotate --threshold=100 "$dump" | grep -E '^ *[0-9,]+ \( *[0-9]+\.[0-9]+%\)' |
                head -n "$FUNCTIONS" | sed 's/ \[[^]]*\]$//' | cut -c1-160 || true
        fi
    done
done
