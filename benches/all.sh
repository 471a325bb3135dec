#!/usr/bin/env bash
# Every comparison in one run, and one table of ratios at the end.
#
#   benches/all.sh            # everything (about 10 minutes on 2 cores)
#   QUICK=1 benches/all.sh    # shorter runs of the slow ones
#
# Runs, in order: scan vs rg vs mtail (benches/compare.sh), .gz scan vs
# `zcat | rg -c`, the live exporter (benches/live.py), socket statistics vs
# node_exporter's tcpstat (benches/sockstat.sh), and /metrics under wrk vs
# node_exporter (benches/http.sh). Each script's own output is kept in
# bench-out/all-*.log; the ratios are collected from them. Installs the
# Debian peers it needs (ripgrep, mtail, prometheus-node-exporter, wrk,
# iproute2) when missing. The 10%- and 100%-error corpora come
# from benches/gen_density.py (varied lines: no cache can fake them).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-out

missing=()
for pair in rg:ripgrep mtail:mtail prometheus-node-exporter:prometheus-node-exporter \
            wrk:wrk ss:iproute2 bc:bc; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release -q

run() { # name, command...
    local name=$1; shift
    echo "== $name: $*" >&2
    "$@" 2>&1 | tee "bench-out/all-$name.log" >&2
}

# Runs of each timed group, round robin (benches/interleave.py): enough
# for a median on a shared machine.
runs=15
[ -z "${QUICK:-}" ] || runs=5

run scan bash benches/compare.sh

# The corpus compare.sh made (live.py leaves smaller ones beside it).
corpus=bench-out/corpus-2000000.log
[ -s "$corpus.gz" ] || gzip -k -6 "$corpus"
pattern='ERROR [a-z]+: \(\d+\) |(send|recv|write|writev|read)\(\) failed \(\d+: |socket (write|read) failed, WSAE[A-Z]+ \(\d+\)|lost connection with .* while [a-z ]+: (write|read): [A-Za-z ]+$'
run gz python3 benches/interleave.py -r "$runs" --export-json bench-out/all-gz.json \
    "taskset -c 0 target/release/gateway_exporter scan $corpus.gz" \
    "bash -c \"zcat $corpus.gz | rg -c '$pattern'\""

# Where per-line work dominates: one line in ten a socket error, and every
# line one (eleven shapes, varied timestamps, pids, queue ids). rg gets a
# pattern that matches every error shape of the generator.
for d in 0.1 1.0; do
    f=bench-out/density-$d-2000000.log
    [ -s "$f" ] || python3 benches/gen_density.py 2000000 "$d" > "$f"
done
dpattern='ERROR [a-z]+: \(\d+\)|\w+\(\) failed \(\d+: |socket (write|read) failed, WSAE[A-Z]+ \(\d+\)|lost connection with |connect to \S+: Connection refused'
run density python3 benches/interleave.py -r "$runs" --export-json bench-out/all-density.json \
    "taskset -c 1 target/release/gateway_exporter scan -j 1 bench-out/density-0.1-2000000.log" \
    "taskset -c 1 rg -c '$dpattern' bench-out/density-0.1-2000000.log" \
    "taskset -c 1 target/release/gateway_exporter scan -j 1 bench-out/density-1.0-2000000.log" \
    "taskset -c 1 rg -c '$dpattern' bench-out/density-1.0-2000000.log"

# One large file on both cores vs one, and the all-errors file.
allerr=bench-out/density-1.0-2000000.log
run multicore python3 benches/interleave.py -r "$runs" --export-json bench-out/all-multicore.json \
    "target/release/gateway_exporter scan -j 1 $corpus" \
    "target/release/gateway_exporter scan -j 2 $corpus" \
    "target/release/gateway_exporter scan -j 1 $allerr" \
    "target/release/gateway_exporter scan -j 2 $allerr"

# The live exporter reading a backlog where every line is an error.
run live-errors python3 benches/live.py --corpus "$allerr" --samples 50 || true
if [ -n "${QUICK:-}" ]; then
    run live python3 benches/live.py --lines 500000 --samples 100 || true
    run sockstat bash benches/sockstat.sh 20000 5
    run http bash benches/http.sh 500 5s 100
else
    run live python3 benches/live.py || true
    run sockstat bash benches/sockstat.sh 50000 9
    run http bash benches/http.sh 500 10s 100
fi

echo
echo "== summary"
python3 - <<'PY'
import json, re
def read(n):
    try:
        return open(f"bench-out/all-{n}.log").read()
    except OSError:
        return ""
rows = []
scan = read("scan")
m = re.search(r"ours/rg speed ratio:\s+([\d.]+)", scan)
if m: rows.append(("scan vs rg -c (2M-line corpus)", f"{m.group(1)}x", ">= 0.8x"))
m = re.search(r"ours/rg --no-mmap:\s+([\d.]+)", scan)
if m: rows.append(("  the same, rg reading as we do (--no-mmap)", f"{m.group(1)}x", "(no goal)"))
m = re.search(r"ours/mtail speed ratio:\s+([\d.]+)", scan)
if m: rows.append(("scan vs mtail --one_shot", f"{m.group(1)}x", ">= 250x"))
def results(n):
    try:
        return json.load(open(f"bench-out/all-{n}.json"))["results"]
    except (OSError, ValueError, KeyError):
        return None
r = results("gz")
if r:
    rows.append((".gz scan vs zcat | rg -c", f"{r[1]['median'] / r[0]['median']:.2f}x", ">= 1x"))
r = results("multicore")
if r:
    rows.append(("scan -j 2 vs -j 1, benchmark corpus", f"{r[0]['median'] / r[1]['median']:.2f}x", ">= 1.7x"))
    rows.append(("scan -j 2 vs -j 1, all-errors corpus", f"{r[2]['median'] / r[3]['median']:.2f}x", ">= 1.7x"))
    rows.append(("all-errors corpus, counted lines/s on one core", f"{2e6 / r[2]['median'] / 1e6:.2f}M", ">= 5M"))
r = results("density")
if r:
    rows.append(("scan vs rg -c, 10% errors", f"{r[1]['median'] / r[0]['median']:.2f}x", ">= 0.5x"))
    rows.append(("scan vs rg -c, every line an error", f"{r[3]['median'] / r[2]['median']:.2f}x", ">= 0.4x"))
    rows.append(("every line an error: ns per counted line, one core", f"{r[2]['median'] / 2e6 * 1e9:.0f} ns", "<= 200 ns"))
m = re.search(r"ratio ours/node:\s+([\d.]+) of its curl time", read("sockstat"))
if m: rows.append(("socket statistics vs node_exporter tcpstat", f"{m.group(1)}x time", "<= 0.25x"))
m = re.search(r"ratio ours/ss:\s+([\d.]+)", read("sockstat"))
if m: rows.append(("socket statistics vs ss, same port filter", f"{m.group(1)}x time", "<= 1.5x"))
for title, line in re.findall(r"== (.*?) \(wrk.*?\n(?:.*\n){3}(ratios: .*)", read("http")):
    rows.append((f"/metrics {title} vs node_exporter", line.replace("ratios: ", ""), ">= 2x req/s"))
live = read("live")
for key in ("lines/s", "p99", "RSS"):
    m = re.search(rf"^.*{re.escape(key)}.*$", live, re.M)
    if m: rows.append((f"live: {key}", m.group(0).strip()[:60], ""))
m = re.search(r"throughput: .*? = ([\d,]+) lines/s", read("live-errors"))
if m:
    per = 1e9 / float(m.group(1).replace(",", ""))
    rows.append(("live backlog, every line an error: ns per counted line", f"{per:.0f} ns", "<= 200 ns"))
w = max(len(r[0]) for r in rows) if rows else 10
for name, value, goal in rows:
    print(f"{name:<{w}}  {value:<70}  {goal}")
PY
