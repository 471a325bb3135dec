#!/usr/bin/env bash
# /metrics under load: ours vs node_exporter serving the same number of
# series, in one run.
#
#   benches/http.sh [SERIES=500] [DURATION=10s] [CONNECTIONS=100] [-- extra exporter flags]
#
# Two rounds, each with both servers at the same series count:
#  1. exposition: ours with the socket-statistics collectors off
#     (--no-collector.snmp/sockstat/connections/witness) vs
#     `prometheus-node-exporter --collector.disable-defaults
#     --collector.textfile`: serving and rendering alone.
#  2. with socket statistics: ours as shipped vs node_exporter with
#     textfile + netstat + sockstat (the same /proc reads per scrape).
# Ours follows SERIES/25 logs with checkpoints on, as in production;
# node_exporter's textfile is padded to our count. Connection limits are
# raised above CONNECTIONS on both (ours --web.max-connections, node's
# --web.max-requests=0), so the figures are of serving, not of refusals. Each server is pinned to CPU 0 and wrk to CPU 1
# (`wrk -t2 -cCONNECTIONS -dDURATION --latency` on /metrics, identity
# encoding as Prometheus would negotiate without gzip). Printed: series,
# requests/s, p50, p99, non-2xx/socket errors, and peak RSS (VmHWM) of
# each, and our ratios. Goal: >= 2x node_exporter's requests/s, p99 below
# its p99, RSS < 20 MB. Loopback only; everything started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

SERIES=${1:-500}
DURATION=${2:-10s}
CONNECTIONS=${3:-100}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
EXTRA=("$@")

die() { echo "http.sh: $*" >&2; exit 1; }
need() {
    command -v "$1" >/dev/null && return
    echo "installing $2 (Debian package)" >&2
    apt-get install -y -qq "$2" >/dev/null || die "cannot install $2"
}
need wrk wrk
need prometheus-node-exporter prometheus-node-exporter
need taskset util-linux
need curl curl

cargo build --release -q
bin=target/release/gateway_exporter

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_up() {
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$1/metrics" >/dev/null && return 0
        sleep 0.1
    done
    die "server on port $1 did not come up"
}

series_of() { curl -s "http://127.0.0.1:$1/metrics" | grep -vc '^#'; }

# Ours: sources until the exposition reaches SERIES.
sources=$(( SERIES / 25 ))
[ "$sources" -ge 1 ] || sources=1
{
    echo "sources:"
    for i in $(seq "$sources"); do
        printf 'ERROR write: (57) Socket is not connected\nERROR read: (54) Connection reset by peer\n' > "$work/gw$i.log"
        printf '  - name: gw%s\n    paths: [%s]\n    profile: msmail\n    start_at: beginning\n' "$i" "$work/gw$i.log"
    done
} > "$work/gw.yml"
load() { # port -> "rps p50 p99 errors"
    taskset -c 1 wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$1/metrics" > "$work/wrk.out"
    python3 - "$work/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
def ms(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\b", t, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
errs = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
if m: errs += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if m: errs += int(m.group(1))
print(f"{rps:.0f} {ms(50):.2f} {ms(99):.2f} {errs}")
PY
}
hwm() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

round() { # title, our extra flags (one string), node_exporter collectors (one string)
    local title=$1 ours_flags=$2 ne_flags=$3
    rm -rf "$work/state" "$work/textfile"; mkdir -p "$work/textfile"
    local our_port ne_port our_pid ne_pid
    our_port=$(free_port)
    # shellcheck disable=SC2086
    taskset -c 0 "$bin" --config "$work/gw.yml" --state.dir "$work/state" \
        --web.listen-address "127.0.0.1:$our_port" --web.max-connections $(( CONNECTIONS + 28 )) \
        --log.level warn $ours_flags "${EXTRA[@]}" 2>"$work/ours.log" &
    our_pid=$!; pids+=("$our_pid")
    wait_up "$our_port"
    local our_series base pad ne_series
    our_series=$(series_of "$our_port")
    ne_port=$(free_port)
    # shellcheck disable=SC2086
    taskset -c 0 prometheus-node-exporter --collector.disable-defaults --collector.textfile $ne_flags \
        --collector.textfile.directory "$work/textfile" --web.max-requests=0 \
        --web.listen-address "127.0.0.1:$ne_port" 2>"$work/ne.log" &
    ne_pid=$!; pids+=("$ne_pid")
    wait_up "$ne_port"
    base=$(series_of "$ne_port")
    pad=$(( our_series - base ))
    {
        echo "# HELP bench_padding Padding series to match the other exporter."
        echo "# TYPE bench_padding gauge"
        for i in $(seq "$pad"); do echo "bench_padding{index=\"$i\",source=\"gw$(( i % 20 ))\"} $i"; done
    } > "$work/textfile/pad.prom"
    ne_series=$(series_of "$ne_port")
    local our_rps our_p50 our_p99 our_err ne_rps ne_p50 ne_p99 ne_err our_rss ne_rss
    read -r our_rps our_p50 our_p99 our_err < <(load "$our_port")
    read -r ne_rps ne_p50 ne_p99 ne_err < <(load "$ne_port")
    our_rss=$(hwm "$our_pid")
    ne_rss=$(hwm "$ne_pid")
    kill "$our_pid" "$ne_pid" 2>/dev/null || true
    wait "$our_pid" "$ne_pid" 2>/dev/null || true
    echo
    echo "== $title (wrk -t2 -c$CONNECTIONS -d$DURATION)"
    printf '%-16s %8s %10s %9s %9s %8s %9s\n' server series "req/s" "p50 ms" "p99 ms" errors "RSS MB"
    printf '%-16s %8s %10s %9s %9s %8s %9s\n' gateway_exporter "$our_series" "$our_rps" "$our_p50" "$our_p99" "$our_err" "$our_rss"
    printf '%-16s %8s %10s %9s %9s %8s %9s\n' node_exporter "$ne_series" "$ne_rps" "$ne_p50" "$ne_p99" "$ne_err" "$ne_rss"
    python3 - "$our_rps" "$ne_rps" "$our_p99" "$ne_p99" "$our_rss" <<'PY'
import sys
o, n, op, np_, rss = map(float, sys.argv[1:])
print(f"ratios: requests/s {o/n:.2f}x node_exporter (goal >= 2), p99 {op/np_:.2f}x (goal < 1), RSS {rss:.1f} MB (goal < 20)")
PY
}

round "exposition" "--no-collector.snmp --no-collector.sockstat --no-collector.connections --no-collector.witness" ""
round "with socket statistics" "" "--collector.netstat --collector.sockstat"
