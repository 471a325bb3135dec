#!/usr/bin/env python3
"""A gateway log with a chosen share of socket-error lines.

The shared benchmark corpus (../shared/bench/gen_gateway_log.py) has one
socket error in about 500 lines, so the whole-buffer search dominates. This
one sets the share, so the per-line work shows: 0.1 for a bad day, 1.0 for a
file where every line is a counted error. Lines vary the way real ones do
(timestamps, pids, queue ids, addresses, every error shape the shared corpus
has, plus syslog, Exim and Winsock ones), so no per-line cache can fake the
result. Deterministic for a given seed.

Usage: gen_density.py LINES DENSITY [SEED] > file
"""
import random
import sys

lines = int(sys.argv[1])
density = float(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
if not 0.0 <= density <= 1.0:
    sys.exit("DENSITY must be between 0 and 1")
rnd = random.Random(seed)

ROUTINE = [
    "{ts} INFO  smtpgw[{pid}]: connect from mail{a}.example.net[192.0.2.{b}]",
    "{ts} INFO  smtpgw[{pid}]: {qid}: from=<user{a}@example.org>, size={c}, nrcpt=1 (queue active)",
    "{ts} INFO  smtpgw[{pid}]: {qid}: to=<ops{b}@example.com>, relay=mx{a}.example.com[198.51.100.{b}]:25, delay=0.{c}, status=sent (250 2.0.0 Ok: queued)",
    "{ts} INFO  smtpgw[{pid}]: disconnect from mail{a}.example.net[192.0.2.{b}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
    "{ts} DEBUG smtpgw[{pid}]: poll cycle {c} complete, {a} messages outbound",
]
# Every line here is one counted socket error for the `auto` profile.
ERRORS = [
    "{ms} ERROR write: (57) Socket is not connected",
    "{ms} ERROR write: (32) Broken pipe",
    "{ms} ERROR read: (54) Connection reset by peer",
    "{ms} ERROR connect: (61) Connection refused",
    "{ms} ERROR write: (60) Operation timed out",
    "{ts} WARN  smtpgw[{pid}]: {qid}: lost connection with mx{a}.example.com[198.51.100.{b}] while sending message body: write: Broken pipe",
    "{ts} ERROR smtpgw[{pid}]: send() failed (104: Connection reset by peer) while sending to client 192.0.2.{b}",
    "{ts} ERROR smtpgw[{pid}]: socket write failed, WSAENOTCONN (10057)",
    "{sys} mx{a} postfix/smtp[{pid}]: connect to mx{a}.example.com[198.51.100.{b}]:25: Connection refused",
    "{sys} mx{a} postfix/smtp[{pid}]: {qid}: lost connection with mx{a}.example.com[198.51.100.{b}] while sending RCPT TO",
    "{ts} nginx: {c}#0: *{pid} recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 192.0.2.{b}",
]

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
out = sys.stdout
buf = []
for i in range(lines):
    sec = i // 40
    h, m, s = (sec // 3600) % 24, (sec // 60) % 60, sec % 60
    day = 1 + (sec // 86400) % 28
    f = dict(
        ts=f"2026-11-{day:02d}T{h:02d}:{m:02d}:{s:02d}Z",
        ms=f"11/{day:02d}/2026 {h:02d}:{m:02d}:{s:02d}",
        sys=f"{MONTHS[10]} {day:2d} {h:02d}:{m:02d}:{s:02d}",
        pid=1000 + rnd.randrange(30000),
        a=rnd.randrange(50),
        b=rnd.randrange(250),
        c=rnd.randrange(9973),
        qid=f"{rnd.getrandbits(40):010X}",
    )
    shapes = ERRORS if rnd.random() < density else ROUTINE
    buf.append(rnd.choice(shapes).format(**f) + "\n")
    if len(buf) >= 10000:
        out.write("".join(buf))
        buf.clear()
out.write("".join(buf))
