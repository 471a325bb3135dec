#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after another,
# from the committed corpora (seeded from the test fixtures on first use),
# and prints executions, corpus size and crashes per target. Not part of
# the test suite: a crash found here becomes a regression test there.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (installed when missing); runs on stable Rust through
# RUSTC_BOOTSTRAP=1, as cargo-fuzz needs nightly flags.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(classify config checkpoint framer)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
mkdir -p artifacts

seed() { # seed TARGET FILE... : one seed per file, or per line with -l
  local t=$1; shift
  mkdir -p "corpus/$t"
  [ -z "$(ls -A "corpus/$t")" ] || return 0
  local i=0
  for f in "$@"; do cp "$f" "corpus/$t/seed-$i"; i=$((i + 1)); done
}
seed_lines() { # seed_lines TARGET FILE... : each line of the files a seed
  local t=$1; shift
  mkdir -p "corpus/$t"
  [ -z "$(ls -A "corpus/$t")" ] || return 0
  cut -f6 "$@" | grep -v '^#\|^line$' | sort -u | head -500 | split -l 1 - "corpus/$t/line-"
}
seed_lines classify ../tests/fixtures/profiles/*.tsv
seed framer ../tests/fixtures/real/postfix-3.7.11.log ../deploy/sample/gateway.log
seed config ../tests/fixtures/fuzz/config/*.yml
seed checkpoint ../tests/fixtures/fuzz/checkpoint/*.json

printf '%-12s %10s %14s %8s %8s\n' target seconds executions corpus crashes
for t in "${targets[@]}"; do
  log="artifacts/$t.log"
  status=0
  cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 \
    -max_len=65536 > "$log" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "artifacts/$t" -name 'crash-*' 2>/dev/null | wc -l)
  [ "$status" -eq 0 ] || crashes=$((crashes > 0 ? crashes : 1))
  printf '%-12s %10s %14s %8s %8s\n' "$t" "$secs" "${execs:-?}" "$(ls "corpus/$t" | wc -l)" "$crashes"
done
