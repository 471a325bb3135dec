#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, integration and end-to-end
# tests against real Prometheus, Alertmanager and Chromium.
#
# Installs the Debian packages the end-to-end tests need when they are
# missing (as root, or through sudo). Under CI (CI=true) a test whose
# component is still missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Real syslog and journal peers for tests/syslog.rs and tests/journald.rs;
# prlimit/setpriv (util-linux) and pgrep (procps) for the trust tests.
command -v rsyslogd >/dev/null 2>&1 || missing+=(rsyslog)
command -v logger >/dev/null 2>&1 || missing+=(bsdutils)
[ -x /lib/systemd/systemd-journal-remote ] || [ -x /usr/lib/systemd/systemd-journal-remote ] \
  || missing+=(systemd-journal-remote)
command -v journalctl >/dev/null 2>&1 || missing+=(systemd)
command -v prlimit >/dev/null 2>&1 || missing+=(util-linux)
command -v pgrep >/dev/null 2>&1 || missing+=(procps)
# TLS peers for tests/web.rs: certificates and handshakes, HTTPS requests.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# The mixin test renders with Debian's jsonnet; kubernetes-validate (PyPI,
# below) needs pip.
command -v jsonnet >/dev/null 2>&1 || missing+=(jsonnet)
command -v kubernetes-validate >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1 \
  || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Kubernetes manifests' schema check (tests/kubernetes.rs). Debian's
# Python is externally managed (PEP 668): fall back to overriding that.
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  pip3 install -q kubernetes-validate 2>/dev/null \
    || pip3 install -q --break-system-packages kubernetes-validate
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Unit, integration and doc tests; the benches (harness = false) are timing
# scripts, built by clippy above but not run here.
cargo test --locked
