#!/usr/bin/env bash
# Instructions per line for each line shape, by callgrind: stable where wall
# times on a shared machine are not, so a classifier change can be judged
# line shape by line shape, before against after.
#
#   benches/instructions.sh BIN [BIN...] < lines.txt
#
# For each line read: `BIN scan -j 1` over 1,300 copies of it minus 300
# copies (start-up cancels out), divided by 1,000. Needs valgrind. Identical
# copies are fine here: the classifier keeps no per-line cache.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN...] < lines" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" scan -j 1 "$2" 2>&1 |
    awk '/Collected/ {print $4}'; }
while IFS= read -r line; do
    [ -n "$line" ] || continue
    copies() { python3 -c 'import sys; sys.stdout.write((sys.argv[1] + "\n") * int(sys.argv[2]))' "$line" "$1"; }
    copies 300 >"$tmp/few"
    copies 1300 >"$tmp/many"
    row=""
    for bin in "$@"; do
        row+="$(( ($(ir "$bin" "$tmp/many") - $(ir "$bin" "$tmp/few")) / 1000 )) "
    done
    echo "$row| ${line:0:90}"
done
