#!/usr/bin/env bash
# MicroVM cold start: a viewer's first request at a cold site -> that site's new microVM cache
# answering 200 from its own address (boot, network, minicache start-up, one origin fill).
# Starts `ecdn up --backend microvm` with TRIALS sites, sends one viewer request through the
# router at each site in turn (the launch) and polls the site's cache at 127.0.N.10:18080 until
# it answers 200. Prints the machine and its load, one line per site, the backend's own boot
# times, and how the guests ran (KVM, or TCG and why). Needs root, QEMU and a kernel in /boot.
#
#   scripts/bench-vm-boot.sh                          # 3 sites, accelerator auto (KVM, else TCG)
#   ACCEL=tcg TRIALS=5 scripts/bench-vm-boot.sh
# Environment: TRIALS (3), ACCEL (auto|kvm|tcg), CONFIG (release), SCRATCH (.build-release), BIN (a
# folder with ecdn already built: no build),
# MINICACHE (default: the static build in .build-static when it exists), OUT (out/vm-boot).
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${TRIALS:-3}
ACCEL=${ACCEL:-auto}
CONFIG=${CONFIG:-release}
SCRATCH=${SCRATCH:-.build-release}
OUT=${OUT:-out/vm-boot}
OCTET=${OCTET:-161}
mkdir -p "$OUT"

if [ -z "${BIN:-}" ]; then
  swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product ecdn >/dev/null
  swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product minicache >/dev/null
  BIN=$(swift build -c "$CONFIG" --scratch-path "$SCRATCH" --show-bin-path)
else
  CONFIG="given ($BIN)"
fi
minicache=${MINICACHE:-}
if [ -z "$minicache" ]; then
  if [ -x .build-static/release/minicache ]; then minicache=.build-static/release/minicache; else minicache=$BIN/minicache; fi
fi
echo "machine: $(nproc) cores, kernel $(uname -r), $(qemu-system-x86_64 --version | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
echo "ecdn: $BIN/ecdn ($CONFIG); minicache in the guest: $minicache ($(file -b "$minicache" | grep -oE 'static(-pie)?[ -]linked|dynamically linked' || echo unknown)); accelerator $ACCEL"

UP_PID=
stop_up() { if [ -n "$UP_PID" ]; then kill -TERM "$UP_PID" 2>/dev/null || true; wait "$UP_PID" 2>/dev/null || true; UP_PID=; fi; }
trap stop_up EXIT
rm -rf "$OUT/work"
"$BIN/ecdn" up --minicache "$minicache" --backend microvm --vm-accelerator "$ACCEL" --single-tenant --router-port 0 --api-port 0 --origin-port 0 \
  --first-site-octet "$OCTET" --sites "$TRIALS" --idle-timeout 600 --log-level info --work-dir "$OUT/work" >"$OUT/up.txt" 2>"$OUT/up.log" &
UP_PID=$!
for _ in $(seq 600); do grep -q '^origin: ' "$OUT/up.txt" 2>/dev/null && break; sleep 0.1; done
ROUTER=$(sed -n 's/^router: //p' "$OUT/up.txt")
API=$(sed -n 's/^api: //p' "$OUT/up.txt")
[ -n "$ROUTER" ] || { echo "ecdn up failed; see $OUT/up.log" >&2; exit 1; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }
printf '%-6s %22s\n' site "request -> cache 200 (s)"
for k in $(seq 0 $((TRIALS - 1))); do
  octet=$((OCTET + k))
  t0=$(now_ms)
  curl -s -o /dev/null --interface "127.0.$octet.5" "$ROUTER/live/1/index.m3u8" || true
  code=000
  while [ "$code" != 200 ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.$octet.10:18080/live/1/index.m3u8" || true)
    [ $(($(now_ms) - t0)) -lt 300000 ] || { echo "site$((k + 1)): no 200 within 300 s" >&2; break; }
    [ "$code" = 200 ] || sleep 0.05
  done
  printf '%-6s %22.2f\n' "site$((k + 1))" "$(echo "($(now_ms) - $t0) / 1000" | bc -l)" | tee -a "$OUT/boot.txt"
done
curl -s "$API/instances" >"$OUT/instances.json"
python3 - "$OUT/instances.json" "$OUT/up.log" <<'PY'
import json, re, sys
inst = json.load(open(sys.argv[1]))
boot = sorted(i["bootMilliseconds"] / 1000 for i in inst if i.get("bootMilliseconds") is not None)
print("backend: launch -> ready (s):", ", ".join(f"{b:.2f}" for b in boot))
for line in open(sys.argv[2]):
    if "KVM guest did not come up" in line or "microvm ready" in line:
        print("log:", re.sub(r"^\S+ ", "", line.strip())[:240])
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
