#!/usr/bin/env bash
# SHFS benchmark (not a test). Builds `shfs` in release mode and measures, in one run:
#   1. import of ~1 GiB of files between 4 KiB and 16 MiB, in MB/s, against `sha256sum` over the
#      same files (page cache warm for both; shfs also writes the data and syncs it to disk);
#   2. open time of a volume with 100,000 entries (median of 15 opens, in-process);
#   3. digest lookups per second on that volume.
# Goals: import >= 0.8x sha256sum, open <= 50 ms, >= 10 million lookups/s.
#
#   SCRATCH_PATH  SwiftPM scratch directory (default .build)
#   BENCH_DIR     work directory, needs ~2.5 GiB free (default .build/bench-shfs)
#   BENCH_GIB     data size for the import benchmark in GiB (default 1)
#   RUNS          repetitions of each timed import / hash (default 3, best is reported)
set -euo pipefail
cd "$(dirname "$0")/.."

scratch="${SCRATCH_PATH:-.build}"
work="${BENCH_DIR:-.build/bench-shfs}"
gib="${BENCH_GIB:-1}"
runs="${RUNS:-3}"

echo "==> building shfs (release)"
swift build -c release --scratch-path "$scratch" --product shfs
shfs="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/shfs"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

mkdir -p "$work"
files="$work/files"
if [ ! -f "$files/.complete-$gib" ]; then
    echo "==> generating ${gib} GiB of files between 4 KiB and 16 MiB in $files"
    rm -rf "$files"
    mkdir -p "$files"
    # Sizes log-uniform between 4 KiB (2^12) and 16 MiB (2^24), fixed seed.
    awk -v total=$((gib << 30)) 'BEGIN {
        srand(42); sum = 0; i = 0
        while (sum < total) { s = int(2 ^ (12 + rand() * 12)); if (sum + s > total) s = total - sum; if (s < 4096) s = 4096; print i, s; sum += s; i++ }
    }' | while read -r i size; do
        head -c "$size" /dev/urandom > "$files/f$(printf %05d "$i").bin"
    done
    touch "$files/.complete-$gib"
fi
count=$(find "$files" -type f -name '*.bin' | wc -l)
bytes=$(find "$files" -type f -name '*.bin' -printf '%s\n' | awk '{ s += $1 } END { print s }')
echo "    $count files, $bytes bytes"

echo "==> warming the page cache"
cat "$files"/*.bin > /dev/null

best() { sort -n | head -1; }

echo "==> sha256sum over the same files ($runs runs)"
hash_times=()
for _ in $(seq "$runs"); do
    t0=$(now); sha256sum "$files"/*.bin > /dev/null; t1=$(now)
    hash_times+=("$(elapsed "$t0" "$t1")")
done
hash_best=$(printf '%s\n' "${hash_times[@]}" | best)

echo "==> shfs import ($runs runs, fresh volume each)"
vol="$work/import.shfs"
import_times=()
for _ in $(seq "$runs"); do
    rm -f "$vol"
    "$shfs" mkfs "$vol" --size $(( (bytes * 11 / 10) + (64 << 20) )) --force > /dev/null
    sync
    t0=$(now); "$shfs" import "$vol" "$files" --quiet; t1=$(now)
    import_times+=("$(elapsed "$t0" "$t1")")
done
import_best=$(printf '%s\n' "${import_times[@]}" | best)
"$shfs" fsck "$vol" | tail -1
rm -f "$vol"

mbs() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.0f", b / t / 1e6 }'; }
hash_mbs=$(mbs "$hash_best")
import_mbs=$(mbs "$import_best")
ratio=$(awk -v a="$import_mbs" -v b="$hash_mbs" 'BEGIN { printf "%.2f", a / b }')

echo "==> volume with 100,000 entries"
small="$work/small"
vol100k="$work/100k.shfs"
if [ ! -f "$vol100k" ] || [ "$("$shfs" info "$vol100k" 2>/dev/null | awk '/^Entries:/ { print $2 }')" != "100000" ]; then
    rm -rf "$small"
    mkdir -p "$small"
    (cd "$small" && seq -f 'object %g' 1 100000 | split -l 1 -a 5 -d - o)
    # 1024 buckets x 160 entries: 163,840 slots (a 40 MiB table); the chance that 100,000
    # SHA-256 digests overflow a bucket is about 3 in a million.
    "$shfs" mkfs "$vol100k" --size 2G --buckets 1024 --entries-per-bucket 160 --force > /dev/null
    t0=$(now); "$shfs" import "$vol100k" "$small" --quiet; t1=$(now)
    echo "    imported 100,000 small files in $(elapsed "$t0" "$t1") s"
    rm -rf "$small"
fi
bench_out=$("$shfs" bench "$vol100k")
echo "$bench_out"
open_wall=$(echo "$bench_out" | sed -n 's/^open:.*median \([0-9.]*\) ms wall.*/\1/p')
open_cpu=$(echo "$bench_out" | sed -n 's/^open:.*median \([0-9.]*\) ms CPU.*/\1/p')
lookups_wall=$(echo "$bench_out" | sed -n 's/^lookup by digest (hit): \([0-9.]*\) million\/s wall.*/\1/p')
lookups_cpu=$(echo "$bench_out" | sed -n 's/^lookup by digest (hit).* \([0-9.]*\) million\/s CPU.*/\1/p')

cat <<REPORT

== SHFS benchmark: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%MZ)
import ${count} files, ${bytes} bytes (best of $runs):
  sha256sum          ${hash_best} s   ${hash_mbs} MB/s
  shfs import        ${import_best} s   ${import_mbs} MB/s   (${ratio}x sha256sum; goal >= 0.8x)
open, 100,000 entries: ${open_wall} ms wall, ${open_cpu} ms CPU, median of 15 (goal <= 50 ms)
digest lookups (hit):  ${lookups_wall} million/s wall, ${lookups_cpu} million/s CPU (goal >= 10 million/s)
load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (CPU figures exclude time spent waiting for a core)
REPORT
