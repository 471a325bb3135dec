#!/usr/bin/env python3
"""Syslog under load, on loopback.

  benches/syslog_burst.py [--udp 100000] [--tcp 1000000] [--rcvbuf BYTES]

UDP burst: N RFC 3164 datagrams sent as fast as one sender can; reports
sent, received (gateway_log_lines_total + malformed), lost, and the
kernel's drop count the exporter exports for its socket
(gateway_syslog_udp_drops_total): lost and dropped should agree.

TCP: M newline-framed messages on one connection as fast as the sender
can, the exporter pinned to CPU 0 and the sender to CPU 1; reports the
messages/s the exporter sustained (from the first to the last counted).
"""
import argparse, os, socket, subprocess, sys, tempfile, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--udp", type=int, default=100_000)
ap.add_argument("--tcp", type=int, default=1_000_000)
ap.add_argument("--rcvbuf", type=int, default=0, help="receive_buffer_bytes (0: the kernel's default)")
ap.add_argument("--bin", default="target/release/gateway_exporter")
args = ap.parse_args()


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def value(text, name, contains=""):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {" and contains in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


tmp = tempfile.mkdtemp(prefix="gwexp-syslog-")
udp_port, tcp_port, web = free_port(socket.SOCK_DGRAM), free_port(), free_port()
cfg = os.path.join(tmp, "gw.yml")
with open(cfg, "w") as f:
    f.write("sources:\n  - name: gw\n    type: syslog\n    profile: msmail\n")
    f.write(f"    listen: ['udp://127.0.0.1:{udp_port}', 'tcp://127.0.0.1:{tcp_port}']\n")
    if args.rcvbuf:
        f.write(f"    receive_buffer_bytes: {args.rcvbuf}\n")
exp = subprocess.Popen(["taskset", "-c", "0", args.bin, "--config", cfg, "--state.dir=",
                        "--web.listen-address", f"127.0.0.1:{web}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.sched_setaffinity(0, {1})


def scrape():
    with urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=10) as r:
        return r.read().decode()


try:
    for _ in range(200):
        try:
            scrape()
            break
        except OSError:
            time.sleep(0.05)
    # UDP burst.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    msgs = [f"<13>Dec  1 20:00:00 mx1 smtpgate: {i:07} ERROR write: (57) Socket is not connected".encode()
            for i in range(args.udp)]
    t0 = time.time()
    for m in msgs:
        s.sendto(m, ("127.0.0.1", udp_port))
    sent_s = time.time() - t0
    last, stable = -1, 0
    while stable < 10:
        text = scrape()
        got = value(text, "gateway_log_lines_total") + value(text, "gateway_syslog_malformed_total")
        stable = stable + 1 if got == last else 0
        last = got
        time.sleep(0.1)
    drops = value(text, "gateway_syslog_udp_drops_total")
    print(f"UDP: sent {args.udp} in {sent_s:.2f} s ({args.udp / sent_s:,.0f}/s); received {got:,.0f}; "
          f"lost {args.udp - got:,.0f}; kernel drops exported {drops:,.0f}")
    base = value(text, "gateway_log_lines_total")
    # TCP sustained.
    c = socket.create_connection(("127.0.0.1", tcp_port))
    payload = b"".join(f"<13>Dec  1 20:00:00 mx1 smtpgate: {i:07} ERROR write: (57) Socket is not connected\n".encode()
                       for i in range(args.tcp))
    t0 = time.time()
    c.sendall(payload)
    c.close()
    while value(scrape(), "gateway_log_lines_total") < base + args.tcp:
        time.sleep(0.02)
    took = time.time() - t0
    print(f"TCP: {args.tcp:,} messages in {took:.2f} s = {args.tcp / took:,.0f} messages/s on one core")
finally:
    exp.kill()
    exp.wait()
