#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine, proves it, and
# removes it again:
#   1. cargo build --release, the man pages and completions rendered from
#      src/cli.rs (examples/render_docs.rs), cargo deb --no-build;
#   2. dpkg -i; the conffiles, unit, man page and shared files are in place;
#      `man gateway_exporter` renders;
#   3. the installed unit's ExecStart line, with the installed
#      /etc/default/gateway_exporter's ARGS, run by hand as a system user
#      (setpriv; the unit's DynamicUser is a system user in group adm) with
#      $STATE_DIRECTORY set as systemd sets it: /metrics answers on loopback;
#   4. dpkg --purge, and the check's user and state directory removed.
#
# Needs root, dpkg, man-db, curl, setpriv (util-linux) and cargo-deb
# (`cargo install --locked cargo-deb`). Not part of `cargo test`: it
# installs a package system-wide, which a test run must not do behind the
# back of the machine's owner. Takes about 1-3 minutes, mostly the release build.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ "$(id -u)" -eq 0 ] || { echo "check.sh: run as root (dpkg -i)" >&2; exit 2; }
for tool in dpkg man curl setpriv cargo-deb; do
  command -v "$tool" >/dev/null || { echo "check.sh: $tool is missing" >&2; exit 2; }
done

PKG=gateway-exporter
USER_NAME=gwexp-check
# Not /var/lib/gateway_exporter itself: that may hold a real installation's
# (or a root test run's) checkpoints, which this check must not touch.
STATE=$(mktemp -d /var/lib/gwexp-check.XXXXXX)
PORT=${PORT:-19057}
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  dpkg --purge "$PKG" >/dev/null 2>&1 || true
  id "$USER_NAME" >/dev/null 2>&1 && userdel "$USER_NAME" || true
  rm -rf "$STATE"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "build"
cargo build --release --locked --bin gateway_exporter
cargo run -q --locked --example render_docs -- target/assets
deb=$(cargo deb --no-build --locked 2>&1 | tail -n 1)
[ -f "$deb" ] || { echo "cargo deb did not report a package: $deb" >&2; exit 1; }
echo "$deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
echo "conffiles:"; dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles

step "dpkg -i"
dpkg -i "$deb"
dpkg -s "$PKG" | grep -E '^(Status|Version):'
for f in /usr/bin/gateway_exporter /etc/default/gateway_exporter \
         /etc/gateway_exporter/gateway.yml /usr/lib/systemd/system/gateway_exporter.service \
         /usr/share/man/man1/gateway_exporter.1.gz \
         /usr/share/bash-completion/completions/gateway_exporter \
         /usr/share/zsh/vendor-completions/_gateway_exporter \
         /usr/share/fish/vendor_completions.d/gateway_exporter.fish \
         /usr/share/gateway_exporter/rules/gateway.rules.yml \
         /usr/share/gateway_exporter/dashboards/gateway-fleet.json \
         /usr/share/gateway_exporter/dashboards/gateway-host.json \
         /usr/share/gateway_exporter/runbook/gateway.md; do
  [ -e "$f" ] || { echo "missing after install: $f" >&2; exit 1; }
done
echo "all installed files present"
gateway_exporter --version
gateway_exporter check-config /etc/gateway_exporter/gateway.yml

step "man gateway_exporter"
MANPAGER=cat MANWIDTH=80 man gateway_exporter 2>/dev/null | head -n 12
MANPAGER=cat man gateway_exporter 2>/dev/null | grep -q -- '--gateway.log-path' \
  || { echo "the man page lacks the flags" >&2; exit 1; }

step "the unit's ExecStart, as a system user"
unit=/usr/lib/systemd/system/gateway_exporter.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
echo "ExecStart=$exec_start"
# ARGS as the unit gets them from its EnvironmentFile, plus a loopback listen
# address (the default :10057 is every interface; this is a check, not a service).
# shellcheck disable=SC1091
. /etc/default/gateway_exporter
ARGS="$ARGS --web.listen-address=127.0.0.1:$PORT"
ARGS=${ARGS/--web.listen-address=:10057/}
useradd --system --no-create-home --shell /usr/sbin/nologin --groups adm "$USER_NAME"
chown "$USER_NAME:$USER_NAME" "$STATE"; chmod 0700 "$STATE"
cmd=${exec_start//\$ARGS/$ARGS}
echo "running as $USER_NAME: $cmd"
# shellcheck disable=SC2086
STATE_DIRECTORY=$STATE setpriv --reuid="$USER_NAME" --regid="$USER_NAME" --init-groups \
  --no-new-privs $cmd &
pid=$!
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$PORT/-/healthy" >/dev/null 2>&1 && break
  sleep 0.1
done
ps -o user=,group=,supgrp=,args= -p "$pid"
curl -fsS "http://127.0.0.1:$PORT/metrics" > /tmp/gwexp-check-metrics.txt
grep -E '^gateway_(log_up|build_info|socket_errors_total)' /tmp/gwexp-check-metrics.txt | head -n 8
echo "$(grep -c '^gateway_' /tmp/gwexp-check-metrics.txt) gateway_* samples from /metrics"
curl -fsS -o /dev/null -w '/runbook: HTTP %{http_code}\n' "http://127.0.0.1:$PORT/runbook"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
ls -l "$STATE"
[ -n "$(ls -A "$STATE")" ] || { echo "no checkpoint written to \$STATE_DIRECTORY" >&2; exit 1; }

step "dpkg --purge"
dpkg --purge "$PKG"
[ ! -e /usr/bin/gateway_exporter ] && [ ! -e /etc/gateway_exporter/gateway.yml ] \
  && echo "removed: no gateway_exporter files left"
echo OK
