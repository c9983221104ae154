#!/usr/bin/env bash
# Build the shfs tool and minicache, pack the sample web site (Samples/site) into an SHFS
# volume, check it, list it and serve it. The volume lands in .build/demo/sample.shfs
# (git-ignored).
#
#   SCRATCH_PATH  SwiftPM scratch directory (default .build)
#   VOLUME        where to write the volume (default .build/demo/sample.shfs)
#   LISTEN        where minicache listens (default 127.0.0.1:8080)
#   SERVE=0       build and list the volume only
set -euo pipefail
cd "$(dirname "$0")/.."

scratch="${SCRATCH_PATH:-.build}"
volume="${VOLUME:-.build/demo/sample.shfs}"

echo "==> building shfs and minicache"
swift build --scratch-path "$scratch" --product shfs
swift build --scratch-path "$scratch" --product minicache
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

[ "${SERVE:-1}" = 0 ] && exit 0
minicache="$(swift build --scratch-path "$scratch" --show-bin-path)/minicache"
echo
echo "==> serving $volume at http://${LISTEN:-127.0.0.1:8080}/ (Ctrl-C stops it; admin: $minicache ctl status)"
exec "$minicache" serve "$volume" --listen "${LISTEN:-127.0.0.1:8080}"
