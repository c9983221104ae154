#!/usr/bin/env bash
# Prints the dependency versions this checkout builds with, from Package.resolved as SwiftPM
# resolved it (the file is not committed; Package.swift pins the hot-path libraries). The
# benchmark scripts print this line with their figures, so two runs can be compared.
#
#   scripts/package-versions.sh            # "packages: swift-nio 2.101.3, swift-collections 1.6.0, ..."
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f Package.resolved ] || swift package resolve >/dev/null 2>&1 || true
if [ ! -f Package.resolved ]; then
    echo "packages: unknown (no Package.resolved; run swift package resolve)"
    exit 0
fi
python3 - Package.resolved <<'PY'
import json, sys
pins = json.load(open(sys.argv[1])).get("pins", [])
parts = [f"{p['identity']} {p['state'].get('version') or p['state'].get('branch') or p['state'].get('revision', '?')[:12]}" for p in pins]
print("packages: " + ", ".join(sorted(parts)))
PY
