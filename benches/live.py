#!/usr/bin/env python3
"""Live exporter throughput and latency, measured from outside.

  benches/live.py [--lines N] [--samples M]

Throughput: the exporter (pinned to CPU 0) follows an empty log; the whole
synthetic corpus (N lines, shared/bench/gen_gateway_log.py) is appended in
large writes by a writer pinned to CPU 1 as fast as it can; lines/s is N
divided by the time until gateway_log_lines_total reaches N.

Latency: then M single ENOTCONN lines are appended one at a time, each
timestamped just before its write; /metrics is polled until the counter
shows it. Reports median and p99 of write-to-visible time.
"""
import argparse, http.client, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--lines", type=int, default=2_000_000)
ap.add_argument("--samples", type=int, default=300)
ap.add_argument("--bin", default="target/release/gateway_exporter")
ap.add_argument("--shared", default=os.environ.get("SHARED", "../shared"))
ap.add_argument("--corpus", help="a log to use instead of the generated corpus (e.g. bench-out/density-1.0-2000000.log); --lines is then its line count")
ap.add_argument("--no-state", action="store_true", help="run without checkpoints (--state.dir=)")
args = ap.parse_args()

os.makedirs("bench-out", exist_ok=True)
corpus = args.corpus or f"bench-out/corpus-{args.lines}.log"
if args.corpus:
    with open(corpus, "rb") as f:
        args.lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
elif not os.path.exists(corpus):
    with open(corpus, "w") as f:
        subprocess.run([sys.executable, f"{args.shared}/bench/gen_gateway_log.py", str(args.lines)], stdout=f, check=True)

tmp = tempfile.mkdtemp(prefix="gwexp-live-")
# With checkpoints (the default), every scrape that follows new counts
# persists them first (fsync) before answering.
state = ["--state.dir="] if args.no_state else ["--state.dir", os.path.join(tmp, "state")]
print("checkpoints:", "off" if args.no_state else "on (a checkpoint before each scrape that follows new counts)")
log = os.path.join(tmp, "gw.log")
open(log, "w").close()
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
exp = subprocess.Popen(["taskset", "-c", "0", args.bin, "--log.path", log, "--log.profile", "auto",
                        "--web.listen-address", f"127.0.0.1:{port}"] + state,
                       stderr=subprocess.DEVNULL)
url = f"http://127.0.0.1:{port}/metrics"

def metric(name, text):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total

def scrape():
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()

def pause(since):
    """Between polls for "all lines counted": every 5 ms for the first second
    (short runs need the resolution), then every 50 ms. Each scrape also
    takes a checkpoint, and 200 a second cost a quarter of a multi-second
    run (the all-errors backlog); 20 a second is still 300 times a 15 s
    scrape interval, and 50 ms is under 2% of such a run."""
    time.sleep(0.005 if time.monotonic() - since < 1.0 else 0.05)

try:
    for _ in range(100):
        try:
            scrape(); break
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
    time.sleep(0.3)
    # Throughput.
    t0 = time.monotonic()
    subprocess.run(["taskset", "-c", "1", "sh", "-c", f"cat {corpus} >> {log}"], check=True)
    t_written = time.monotonic()
    while metric("gateway_log_lines_total", scrape()) < args.lines:
        pause(t0)
    t1 = time.monotonic()
    rate = args.lines / (t1 - t0)
    mb = os.path.getsize(corpus) / (t1 - t0) / 1e6
    print(f"throughput: {args.lines} lines in {t1 - t0:.3f} s = {rate:,.0f} lines/s ({mb:.0f} MB/s) on one core; writer finished after {t_written - t0:.3f} s")
    # Latency.
    base = metric("gateway_socket_errors_total", scrape())
    lat = []
    with open(log, "a") as f:
        for i in range(args.samples):
            t_w = time.monotonic()
            f.write(f"{i:06d} ERROR write: (57) Socket is not connected\n"); f.flush()
            want = base + i + 1
            while metric("gateway_socket_errors_total", scrape()) < want:
                pass
            lat.append(time.monotonic() - t_w)
            time.sleep(0.005)
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print(f"latency write->/metrics over {len(lat)} lines: median {statistics.median(lat)*1000:.2f} ms, p99 {p(0.99):.2f} ms, max {lat[-1]*1000:.2f} ms")
    rss = int(open(f"/proc/{exp.pid}/status").read().split("VmRSS:")[1].split()[0])
    print(f"exporter RSS after the run: {rss/1024:.1f} MiB")
finally:
    exp.terminate(); exp.wait(timeout=10)

# Backlog: the exporter's own ceiling, reading a file already written (page
# cache) from its beginning, with no writer to wait for.
# A port of its own from the kernel, as the first: port + 1 could be taken.
s = socket.socket(); s.bind(("127.0.0.1", 0)); port2 = s.getsockname()[1]; s.close()
url = f"http://127.0.0.1:{port2}/metrics"
t0 = time.monotonic()
exp = subprocess.Popen(["taskset", "-c", "0", args.bin, "--log.path", os.path.abspath(corpus), "--log.profile", "auto",
                        "--log.start-at", "beginning", "--web.listen-address", f"127.0.0.1:{port2}",
                        "--state.dir", os.path.join(tmp, "state2")],
                       stderr=subprocess.DEVNULL)
try:
    while True:
        try:
            if metric("gateway_log_lines_total", scrape()) >= args.lines:
                break
        # Before the exporter listens, a connection to a free ephemeral
        # port can be the client's own socket connected to itself (TCP
        # self-connect): the "status line" is our own request.
        except (OSError, http.client.HTTPException):
            pass
        pause(t0)
    t1 = time.monotonic()
    print(f"backlog: {args.lines} lines from start-up to counted in {t1 - t0:.3f} s = {args.lines / (t1 - t0):,.0f} lines/s ({os.path.getsize(corpus) / (t1 - t0) / 1e6:.0f} MB/s)")
finally:
    exp.terminate(); exp.wait(timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)
