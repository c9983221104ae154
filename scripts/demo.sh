#!/usr/bin/env bash
# Main job: build the shfs tool, pack the sample web site (Samples/site) into an SHFS volume,
# check it and list it. The volume lands in .build/demo/sample.shfs (git-ignored).
#
#   SCRATCH_PATH  SwiftPM scratch directory (default .build)
#   VOLUME        where to write the volume (default .build/demo/sample.shfs)
set -euo pipefail
cd "$(dirname "$0")/.."

scratch="${SCRATCH_PATH:-.build}"
volume="${VOLUME:-.build/demo/sample.shfs}"

echo "==> building shfs"
swift build --scratch-path "$scratch" --product shfs
shfs="$(swift build --scratch-path "$scratch" --show-bin-path)/shfs"

echo "==> making $volume from Samples/site"
mkdir -p "$(dirname "$volume")"
"$shfs" mkfs "$volume" --size 64M --name sample --force
"$shfs" import "$volume" Samples/site
"$shfs" add-link "$volume" http://origin.example:8080/live/1/index.m3u8 --type redirect --name live-origin
"$shfs" fsck "$volume" --verify

echo "==> contents"
"$shfs" ls "$volume"
echo
echo "volume: $volume   (try: $shfs info $volume; $shfs cat $volume index.html)"
