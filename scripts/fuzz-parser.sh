#!/usr/bin/env bash
# Fuzz minicache's request parser (and the connection handler behind it) with seeded random
# mutations of valid requests. Prints how many inputs ran without a crash.
#
#   ./scripts/fuzz-parser.sh [ITERATIONS] [SEED]     (defaults: 1000000, 2026)
set -euo pipefail
cd "$(dirname "$0")/.."
MINICACHE_FUZZ=1 MINICACHE_FUZZ_ITERATIONS="${1:-1000000}" MINICACHE_FUZZ_SEED="${2:-2026}" \
    swift test --scratch-path "${SCRATCH_PATH:-.build-server}" --filter FuzzTests 2>&1 | grep -E "fuzz:|passed|failed|error|Fatal"
