#!/usr/bin/env bash
# Socket statistics: one collection of ours vs node_exporter's tcpstat, with
# CONNECTIONS established loopback TCP connections held open (2x sockets).
#
#   benches/sockstat.sh [CONNECTIONS=50000] [RUNS=9]
#
# Ours: benches/sockstat_collect.rs (cargo bench profile, optimized) builds
# a registry with sockstat::register() for the listeners' ports (as local and
# remote ports, so every socket is counted), and times gather + text encoding
# in-process (each run a fresh process: one untimed warm-up collection, one
# timed). node_exporter: `prometheus-node-exporter
# --collector.disable-defaults --collector.tcpstat` on 127.0.0.1, timed with
# curl of /metrics (HTTP included), and by its own
# node_scrape_collector_duration_seconds{collector="tcpstat"}. `ss`: the
# same port filter as an ss expression (`( sport = :P or dport = :P ... )`),
# which ss compiles into the same kind of kernel-side INET_DIAG bytecode we
# send, listing to /dev/null. Medians of RUNS, same connections, same run.
# Goals: ours <= 0.25x node_exporter, and <= 1.5x ss.
# Loopback only; everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${1:-50000}
RUNS=${2:-9}

die() { echo "sockstat.sh: $*" >&2; exit 1; }

# The connection holder spreads its 2 x CONNECTIONS descriptors over as many
# processes as the open-files limit requires (it may not be raisable here).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if ! command -v prometheus-node-exporter >/dev/null; then
    echo "installing prometheus-node-exporter (Debian package)" >&2
    apt-get install -y -qq prometheus-node-exporter >/dev/null || die "cannot install prometheus-node-exporter"
fi

# Build before the connections exist, so compiling does not compete with
# them, and find the executable to run it without cargo's build lock.
bin=$(cargo bench --bench sockstat_collect --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "sockstat_collect" and m.get("executable"):
        print(m["executable"])
' | tail -n1)
[ -x "$bin" ] || die "could not build benches/sockstat_collect.rs"

tmp=$(mktemp -d)
holder=""
exporter=""
cleanup() {
    [ -n "$exporter" ] && kill "$exporter" 2>/dev/null || true
    [ -n "$holder" ] && kill "$holder" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

python3 benches/sockstat_conns.py "$CONNECTIONS" "$tmp/ready" &
holder=$!
for _ in $(seq 600); do
    [ -s "$tmp/ready" ] && break
    kill -0 "$holder" 2>/dev/null || die "the connection holder exited"
    sleep 0.5
done
[ -s "$tmp/ready" ] || die "connections not ready after 300 s"
read -r -a ports <"$tmp/ready"
port_args=()
for p in "${ports[@]}"; do port_args+=(--port "$p"); done
ss_filter=""
for p in "${ports[@]}"; do
    ss_filter+="${ss_filter:+ or }sport = :$p or dport = :$p"
done
command -v ss >/dev/null || die "ss not found (Debian package iproute2)"
now_ns() { date +%s%N; }

ne_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
prometheus-node-exporter --web.listen-address="127.0.0.1:$ne_port" \
    --collector.disable-defaults --collector.tcpstat >"$tmp/node_exporter.log" 2>&1 &
exporter=$!
url="http://127.0.0.1:$ne_port/metrics"
for _ in $(seq 100); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null "$url" || die "node_exporter did not start: $(cat "$tmp/node_exporter.log")"

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
value() { grep -m1 "^$1=" | cut -d= -f2; }

# Alternate one collection of ours (netlink, the default path) with one
# scrape of node_exporter, so the load of a shared machine weighs on both.
: >"$tmp/ours_runs"
: >"$tmp/node_curl"
: >"$tmp/node_self"
: >"$tmp/ss_runs"
for _ in $(seq "$RUNS"); do
    t0=$(now_ns)
    ss -tan -H "( $ss_filter )" >"$tmp/ss_out"
    t1=$(now_ns)
    echo "$(( t1 - t0 ))e-9" | awk '{printf "%.6f\n", $1}' >>"$tmp/ss_runs"
    "$bin" "${port_args[@]}" --runs 1 >"$tmp/ours"
    value ours_median_seconds <"$tmp/ours" >>"$tmp/ours_runs"
    curl -fsS -o "$tmp/body" -w '%{time_total}\n' "$url" >>"$tmp/node_curl"
    grep '^node_scrape_collector_duration_seconds{collector="tcpstat"}' "$tmp/body" | awk '{print $2}' >>"$tmp/node_self"
done
node_established=$(grep '^node_tcp_connection_states{state="established"}' "$tmp/body" | awk '{print $2}')
node_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$exporter/status")
# Ours again, on the /proc/net/tcp fallback, for reference.
"$bin" "${port_args[@]}" --runs "$RUNS" --source procfs >"$tmp/ours_procfs"

ours=$(median <"$tmp/ours_runs")
ours_procfs=$(value ours_median_seconds <"$tmp/ours_procfs")
node_curl=$(median <"$tmp/node_curl")
node_self=$(median <"$tmp/node_self")
ss_time=$(median <"$tmp/ss_runs")
ss_lines=$(wc -l <"$tmp/ss_out")

echo "connections:        $CONNECTIONS established on 127.0.0.1 ports ${ports[*]} ($((2 * CONNECTIONS)) sockets), $RUNS runs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ours counted:       inbound established $(value ours_established_inbound <"$tmp/ours"), outbound $(value ours_established_outbound <"$tmp/ours"), source $(value ours_source <"$tmp/ours"), collectors up $(value ours_collectors_up <"$tmp/ours")/4"
echo "node counted:       established $node_established ($(prometheus-node-exporter --version 2>&1 | head -n1))"
printf 'ours (netlink):     median %.2f ms (min %.2f, max %.2f), RSS %s KiB (peak %s KiB)\n' \
    "$(awk -v s="$ours" 'BEGIN{print s*1000}')" \
    "$(sort -g "$tmp/ours_runs" | head -n1 | awk '{print $1*1000}')" \
    "$(sort -g "$tmp/ours_runs" | tail -n1 | awk '{print $1*1000}')" \
    "$(value ours_rss_kib <"$tmp/ours")" "$(value ours_peak_rss_kib <"$tmp/ours")"
printf 'ours (procfs):      median %.2f ms (the fallback, for reference)\n' "$(awk -v s="$ours_procfs" 'BEGIN{print s*1000}')"
printf 'node_exporter:      median %.2f ms by curl, %.2f ms by its own tcpstat duration, RSS %s KiB\n' \
    "$(awk -v s="$node_curl" 'BEGIN{print s*1000}')" "$(awk -v s="$node_self" 'BEGIN{print s*1000}')" "$node_rss"
printf 'ss (same filter):   median %.2f ms, %s sockets listed (process start and output included)\n' \
    "$(awk -v s="$ss_time" 'BEGIN{print s*1000}')" "$ss_lines"
awk -v o="$ours" -v c="$node_curl" -v n="$node_self" 'BEGIN {
    printf "ratio ours/node:    %.3f of its curl time, %.3f of its collector time (goal <= 0.25): %s\n", o / c, o / n, (o <= 0.25 * c ? "met" : "NOT met")
}'
awk -v o="$ours" -v s="$ss_time" 'BEGIN {
    printf "ratio ours/ss:      %.3f (goal <= 1.5): %s\n", o / s, (o <= 1.5 * s ? "met" : "NOT met")
}'
