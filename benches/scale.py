#!/usr/bin/env python3
"""What many files cost: idle CPU, latency of a new line, and memory.

(Input flags are given by their old names, which every build accepts, so
--base can time a build from before they moved to --gateway.*.)

  benches/scale.py [--files 5000] [--seconds 30] [--backlog-files 300]
                   [--bin target/release/gateway_exporter] [--base OLD_BINARY]

Idle: N files that never change are followed (one glob, default 1 s poll,
inotify on); the exporter's CPU time (utime+stime from /proc) over S
seconds is reported as a share of one core. Then single lines are appended
to one file at a time and /metrics is polled until each is counted:
median and max write-to-visible time.

Backlog: M files of 2 MiB each (start-at beginning) are read from
start-up; VmHWM (peak RSS) and VmRSS after reading are reported.

--base runs the same scenarios on another build (before/after).
Goals (issue 10): idle < 5% of a core with 5,000 files, a new line
visible < 1 s, peak RSS with 300 backlogged files < 64 MB.
"""
import argparse, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--files", type=int, default=5000)
ap.add_argument("--seconds", type=float, default=30)
ap.add_argument("--samples", type=int, default=20)
ap.add_argument("--backlog-files", type=int, default=300)
ap.add_argument("--bin", default="target/release/gateway_exporter")
ap.add_argument("--base", help="a previous build, run the same way")
args = ap.parse_args()

TICK = os.sysconf("SC_CLK_TCK")
LINE = "ERROR write: (57) Socket is not connected\n"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def value(text, name, contains=""):
    total = None
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and contains in line:
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


def start(binary, pattern, tmp, extra):
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--log.path", pattern, "--log.profile", "msmail",
         "--web.listen-address", f"127.0.0.1:{port}", "--state.dir", os.path.join(tmp, "state")] + extra,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            scrape(port)
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{binary} did not start")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def idle(binary):
    tmp = tempfile.mkdtemp(prefix="gwexp-scale-")
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    for i in range(args.files):
        with open(os.path.join(logs, f"f{i:05}.log"), "w") as f:
            f.write("an old line that is not counted\n")
    proc, port = start(binary, os.path.join(logs, "*.log"), tmp, [])
    try:
        deadline = time.time() + 120
        while value(scrape(port), "gateway_log_files") != args.files:
            if time.time() > deadline:
                sys.exit("files were not all followed")
            time.sleep(0.2)
        time.sleep(2)  # let the start-up settle
        c0, t0 = cpu_seconds(proc.pid), time.time()
        time.sleep(args.seconds)
        c1, t1 = cpu_seconds(proc.pid), time.time()
        share = (c1 - c0) / (t1 - t0) * 100
        lat = []
        for i in range(args.samples):
            target = os.path.join(logs, f"f{(i * 7919) % args.files:05}.log")
            w = time.time()
            with open(target, "a") as f:
                f.write(f"{i:06} {LINE}")
            while (value(scrape(port), "gateway_socket_errors_total", 'errname="ENOTCONN"') or 0) < i + 1:
                if time.time() - w > 10:
                    break
                time.sleep(0.005)
            lat.append(time.time() - w)
            time.sleep(0.2)
        return share, statistics.median(lat), max(lat), status_kib(proc.pid, "VmRSS") / 1024
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def backlog(binary):
    tmp = tempfile.mkdtemp(prefix="gwexp-backlog-")
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    chunk = "".join(f"{i:08} INFO delivered to relay {'x' * 40}\n" for i in range(2048))
    per_file = 2 * 1024 * 1024 // len(chunk) + 1
    lines = 0
    for i in range(args.backlog_files):
        with open(os.path.join(logs, f"b{i:03}.log"), "w") as f:
            for _ in range(per_file):
                f.write(chunk)
        lines += per_file * 2048
    proc, port = start(binary, os.path.join(logs, "*.log"), tmp, ["--log.start-at", "beginning"])
    try:
        t0 = time.time()
        while (value(scrape(port), "gateway_log_lines_total") or 0) < lines:
            if time.time() - t0 > 300:
                sys.exit("backlog not read in 5 minutes")
            time.sleep(0.05)
        took = time.time() - t0
        return status_kib(proc.pid, "VmHWM") / 1024, status_kib(proc.pid, "VmRSS") / 1024, took, lines
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


builds = [("this build", args.bin)] + ([("base", args.base)] if args.base else [])
print(f"idle: {args.files} files, {args.seconds:.0f} s; backlog: {args.backlog_files} files x 2 MiB")
print(f"{'build':<12} {'idle CPU':>9} {'new line p50':>13} {'max':>8} {'RSS idle':>9} {'peak RSS':>9} {'RSS after':>10} {'backlog s':>10}")
for name, binary in builds:
    share, p50, worst, rss = idle(binary)
    peak, after, took, lines = backlog(binary)
    print(f"{name:<12} {share:>8.2f}% {p50 * 1000:>10.0f} ms {worst * 1000:>5.0f} ms {rss:>6.1f} MB {peak:>6.1f} MB {after:>7.1f} MB {took:>9.2f}")
print("goals: idle < 5% of a core, a new line visible < 1 s, peak RSS with 300 backlogged files < 64 MB")
