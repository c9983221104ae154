# Sourced by the start-up scripts (bench-minicache-start.sh, count-start-instructions.sh) from
# the package root: sets `shfs` to the SHFS variable when given, else to a built shfs (release,
# then debug), else builds the debug one.
shfs=${SHFS:-}
if [ -z "$shfs" ]; then
    for candidate in .build-release/release/shfs .build/debug/shfs; do [ -x "$candidate" ] && shfs=$candidate && break; done
fi
if [ -z "$shfs" ]; then
    swift build --product shfs >/dev/null
    shfs=.build/debug/shfs
fi
