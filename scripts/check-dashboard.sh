#!/usr/bin/env bash
# Checks the ecdn dashboard in headless Chromium: starts `ecdn up` on its own ports and sites
# (127.0.61-63.x), sends viewers at two sites, then loads the dashboard, checks the rendered DOM
# (site cards, a ready instance per busy site, no API error) and takes a screenshot.
#   scripts/check-dashboard.sh            # PNG and DOM in out/dashboard/
# Needs chromium (apt-get install -y chromium). SCRATCH selects the build folder (default .build).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
OUT=${OUT:-out/dashboard}
mkdir -p "$OUT"
command -v chromium >/dev/null || { echo "chromium is missing: apt-get install -y chromium" >&2; exit 1; }

swift build --scratch-path "$SCRATCH" --product minicache >/dev/null
swift build --scratch-path "$SCRATCH" --product ecdn >/dev/null
BIN=$(swift build --scratch-path "$SCRATCH" --show-bin-path)

"$BIN/ecdn" up --router-port 0 --api-port 0 --origin-port 0 --first-site-octet 61 >"$OUT/up.txt" 2>"$OUT/up.log" &
UP=$!
trap 'kill -TERM $UP 2>/dev/null; wait $UP 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '^origin: ' "$OUT/up.txt" 2>/dev/null && break; sleep 0.1; done
ROUTER=$(sed -n 's/^router: //p' "$OUT/up.txt")
DASHBOARD=$(sed -n 's/^dashboard: //p' "$OUT/up.txt")
[ -n "$DASHBOARD" ] || { echo "ecdn up did not print its URLs; see $OUT/up.log" >&2; exit 1; }

# Viewers at site1 and site2 (site3 stays cold).
for site in 61 62; do
  curl -s -o /dev/null --interface 127.0.$site.5 "$ROUTER/live/1/index.m3u8"
  curl -s -o /dev/null --interface 127.0.$site.6 "$ROUTER/live/2/index.m3u8"
done
sleep 2

FLAGS=(--headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=4000)
chromium "${FLAGS[@]}" --dump-dom "$DASHBOARD" >"$OUT/dom.html" 2>/dev/null
chromium "${FLAGS[@]}" --window-size=1280,900 --screenshot="$OUT/dashboard.png" "$DASHBOARD" >/dev/null 2>&1

fail=0
python3 - "$OUT/dom.html" <<'PY' || fail=1
import re, sys
dom = open(sys.argv[1]).read()
body = dom.split("<script>")[0]  # the rendered page, without the script's own text
checks = [
    ('data-loaded="1"' in dom, "the page loaded data from the API"),
    ('<span id="err"></span>' in body, "no API error shown"),
]
cards = dict(re.findall(r'<div class="site" data-site="(site\d)">(.*?)(?=<div class="site" |</main>)', body, re.S))
checks.append((sorted(cards) == ["site1", "site2", "site3"], "a card for each of site1..site3"))
for site in ("site1", "site2"):
    checks.append(('data-state="ready"' in cards.get(site, ""), f"{site} shows a ready instance"))
checks.append(("no cache" in cards.get("site3", "") and "data-state" not in cards.get("site3", ""), "site3 (no viewers) shows no cache"))
failed = 0
for ok, what in checks:
    print(("ok: " if ok else "FAILED: ") + what)
    failed |= not ok
sys.exit(failed)
PY
[ -s "$OUT/dashboard.png" ] && echo "screenshot: $OUT/dashboard.png" || { echo "FAILED: no screenshot" >&2; fail=1; }
exit $fail
