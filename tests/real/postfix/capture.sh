#!/usr/bin/env bash
# Capture a real Postfix client log against a fault-injecting SMTP server.
#
# Run as root on Debian:  bash tests/real/postfix/capture.sh
# Output: tests/fixtures/real/postfix-<mail_version>.log
#
# Loopback only: every destination is [127.0.0.1]:25xx, served (or refused)
# by faultsmtp.py next to this script. Postfix runs as a private instance
# (own config, queue and data directories under $WORK); the machine's own
# /etc/postfix is left as it was, except that main.cf must list the private
# config directory in alternate_config_directories for the set-gid
# postdrop/postqueue to accept it: that file is backed up and restored (or
# removed again if it did not exist) on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
WORK=${WORK:-/tmp/postfix-capture}
BASE=2500
OUTDIR=${OUTDIR:-"$REPO/tests/fixtures/real"}

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

# --- 1. install postfix if missing ------------------------------------------
if ! command -v postconf >/dev/null 2>&1 || [ ! -x /usr/sbin/postfix ]; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    echo "postfix postfix/mailname string mx.example.test" | debconf-set-selections
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y postfix || { apt-get update && apt-get install -y postfix; }
fi

# --- 2. private instance ------------------------------------------------------
CONF=$WORK/conf QUEUE=$WORK/queue DATA=$WORK/data LOG=$WORK/postfix.log
FAULT_PID=

DEFAULT_MAIN=/etc/postfix/main.cf
MAIN_BACKUP=$WORK/etc-main.cf.orig
MAIN_EXISTED=no

cleanup() {
    set +e
    if [ -f "$QUEUE/pid/master.pid" ]; then
        timeout 30 postfix -c "$CONF" stop >/dev/null 2>&1
        # master.pid is our instance's own master; kill it only if still there
        pid=$(tr -dc 0-9 < "$QUEUE/pid/master.pid" 2>/dev/null)
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && sleep 2 && kill "$pid" 2>/dev/null
    fi
    [ -n "$FAULT_PID" ] && kill "$FAULT_PID" 2>/dev/null
    if [ "$MAIN_EXISTED" = yes ]; then
        cp -p "$MAIN_BACKUP" "$DEFAULT_MAIN"
    else
        rm -f "$DEFAULT_MAIN"
    fi
}

if [ -f "$QUEUE/pid/master.pid" ]; then
    timeout 30 postfix -c "$CONF" stop >/dev/null 2>&1 || true
fi
rm -rf "$WORK"
mkdir -p "$CONF" "$QUEUE" "$DATA"
chown postfix:postfix "$DATA"
: > "$LOG"

if [ -f "$DEFAULT_MAIN" ]; then MAIN_EXISTED=yes; cp -p "$DEFAULT_MAIN" "$MAIN_BACKUP"; fi
trap cleanup EXIT

# postdrop/postqueue are set-gid: they accept a non-default config dir only
# if the default main.cf lists it.
if [ "$MAIN_EXISTED" = yes ]; then
    postconf -c /etc/postfix -e "alternate_config_directories = $(postconf -c /etc/postfix -h alternate_config_directories) $CONF"
else
    echo "alternate_config_directories = $CONF" > "$DEFAULT_MAIN"
fi

cp -a /etc/postfix/master.cf /etc/postfix/postfix-files /etc/postfix/dynamicmaps.cf "$CONF/"
[ -d /etc/postfix/postfix-files.d ] && cp -a /etc/postfix/postfix-files.d "$CONF/"
[ -d /etc/postfix/dynamicmaps.cf.d ] && cp -a /etc/postfix/dynamicmaps.cf.d "$CONF/"

cat > "$CONF/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $QUEUE
data_directory = $DATA
meta_directory = $CONF
myhostname = mx.example.test
mydomain = example.test
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$((BASE + 5))
transport_maps = texthash:$CONF/transport
relay_domains =
maillog_file = $LOG
maillog_file_prefixes = $WORK
smtp_tls_security_level = none
smtp_host_lookup = native
smtp_connect_timeout = 2s
smtp_helo_timeout = 3s
smtp_data_init_timeout = 3s
smtp_data_xfer_timeout = 5s
smtp_data_done_timeout = 3s
smtp_connection_cache_on_demand = no
# Long backoff: no automatic retries while we capture; the only retries are
# the explicit "postqueue -f" runs below (keeps the log short).
minimal_backoff_time = 600s
maximal_backoff_time = 1200s
queue_run_delay = 600s
initial_destination_concurrency = 1
default_destination_concurrency_limit = 1
delay_warning_time = 0
bounce_queue_lifetime = 1h
maximal_queue_lifetime = 1h
message_size_limit = 20480000
biff = no
EOF

cat > "$CONF/transport" <<EOF
refused.test    smtp:[127.0.0.1]:$((BASE + 1))
greeting.test   smtp:[127.0.0.1]:$((BASE + 2))
bodyclose.test  smtp:[127.0.0.1]:$((BASE + 3))
rst.test        smtp:[127.0.0.1]:$((BASE + 4))
ok.test         smtp:[127.0.0.1]:$((BASE + 5))
bodyrst.test    smtp:[127.0.0.1]:$((BASE + 6))
eod.test        smtp:[127.0.0.1]:$((BASE + 7))
multi.test      smtp:[127.0.0.1]:$((BASE + 1)), [127.0.0.1]:$((BASE + 6)), [127.0.0.1]:$((BASE + 5))
EOF

# No listening smtpd (we only need the client side), no chroot (the private
# queue has no chroot files).
postconf -c "$CONF" -M# smtp/inet
postconf -c "$CONF" -F '*/*/chroot = n'

postfix -c "$CONF" check
VERSION=$(postconf -c "$CONF" -h mail_version)

# --- 3. fault server ------------------------------------------------------------
python3 "$HERE/faultsmtp.py" --base "$BASE" --lifetime 300 2> "$WORK/faultsmtp.err" &
FAULT_PID=$!
sleep 1

# --- 4. mail -----------------------------------------------------------------------
send() {  # send FROM RCPT... (body from stdin)
    local from=$1; shift
    timeout 30 sendmail -C "$CONF" -f "$from" "$@"
}
bigbody() {  # ~3 MB so the client is still writing when the server hangs up
    python3 -c 'import sys
line = "x" * 76 + "\n"
sys.stdout.write(line * 40000)'
}

# Queue everything before starting Postfix, so qmgr finds several messages for
# the refused destination at once (-> "delivery temporarily suspended").
# (postdrop warns "unable to look up public/pickup" meanwhile: harmless)
{ printf 'Subject: two recipients, refused\n\ntest\n'; } | send a@mx.example.test rcpt1@refused.test rcpt2@refused.test
for n in 3 4 5; do
    printf 'Subject: refused %s\n\ntest\n' "$n" | send b@mx.example.test "rcpt$n@refused.test"
done
printf 'Subject: greeting timeout\n\ntest\n' | send c@mx.example.test one@greeting.test
{ printf 'Subject: body close, two recipients\n\n'; bigbody; } | send d@mx.example.test one@bodyclose.test two@bodyclose.test
printf 'Subject: rst after accept\n\ntest\n' | send e@mx.example.test one@rst.test
printf 'Subject: rst after accept, 2nd message\n\ntest\n' | send e@mx.example.test two@rst.test
printf 'To: ok1@ok.test, ok2@ok.test\nSubject: control\n\ntest\n' | timeout 30 sendmail -C "$CONF" -t -f f@mx.example.test
{ printf 'Subject: body rst\n\n'; bigbody; } | send g@mx.example.test one@bodyrst.test
printf 'Subject: end of data close\n\ntest\n' | send h@mx.example.test one@eod.test
{ printf 'Subject: three nexthops\n\n'; bigbody; } | send i@mx.example.test one@multi.test
printf 'Subject: mixed destinations\n\ntest\n' | send j@mx.example.test mixed@ok.test mixed@refused.test

postfix -c "$CONF" start

wait_quiet() {  # wait until the log stops growing for $1 s, at most $2 s
    local quiet=$1 max=$2 start last size same=0
    start=$(date +%s); last=-1
    while [ $(( $(date +%s) - start )) -lt "$max" ]; do
        size=$(stat -c %s "$LOG")
        if [ "$size" = "$last" ]; then same=$((same + 1)); else same=0; last=$size; fi
        [ "$same" -ge "$quiet" ] && return 0
        sleep 1
    done
}

wait_quiet 8 90
for i in 1 2; do
    timeout 30 postqueue -c "$CONF" -f
    wait_quiet 8 90
done
timeout 30 postqueue -c "$CONF" -p > "$WORK/queue.txt" 2>&1 || true

timeout 30 postfix -c "$CONF" stop
sleep 2
kill "$FAULT_PID" 2>/dev/null || true
wait "$FAULT_PID" 2>/dev/null || true
FAULT_PID=

# --- 5. fixture --------------------------------------------------------------------
mkdir -p "$OUTDIR"
OUT="$OUTDIR/postfix-$VERSION.log"
HOST=$(hostname)
sed -E -e "s/^([A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8}) $HOST /\1 mx.example.test /" \
       -e "s/\b$HOST\b/mx.example.test/g" "$LOG" > "$OUT"
echo "fault server connections by behaviour (each is one delivery attempt):"
grep -o 'faultsmtp [0-9:]* [a-z]*: connection' "$WORK/faultsmtp.err" | awk '{print $3}' | sort | uniq -c || true
echo "wrote $OUT ($(wc -l < "$OUT") lines); queue left: $WORK/queue.txt"
