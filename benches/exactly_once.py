#!/usr/bin/env python3
"""Lost and double-counted lines across rotations and crashes: ours vs mtail.

  benches/exactly_once.py [--lines 200000] [--kills 10] [--seed 1]

One writer appends K gateway error lines ("ERROR write: (G) network error",
G = the log's generation, i.e. rotations so far) while rotating by rename,
copytruncate and delete + recreate; the tool under test is killed with
SIGKILL and restarted at random moments. The same seeded schedule runs
against gateway_exporter (release build, with a state directory) and
against Debian's mtail with shared/bench/gateway.mtail.

mtail keeps no state: its counters restart at zero and it starts at the end
of the files. Its total is the sum, over its lifetimes, of the last value
scraped before each kill (scraped right before the kill). Per generation,
a shortfall is a lost line and an excess a double count.
"""
import argparse, glob, os, random, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--lines", type=int, default=200_000)
ap.add_argument("--kills", type=int, default=10)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--rate", type=float, default=40_000, help="lines per second")
ap.add_argument("--bin", default="target/release/gateway_exporter")
ap.add_argument("--shared", default=os.environ.get("SHARED", "../shared"))
args = ap.parse_args()

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def scrape(port, metric):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if line.startswith(metric + "{"):
            labels, value = line.rsplit(" ", 1)
            m = re.search(r'errno="(\d+)"', labels)
            if m:
                out[int(m.group(1))] = out.get(int(m.group(1)), 0) + float(value)
    return out

class Ours:
    name = "gateway_exporter"
    metric = "gateway_socket_errors_total"
    def __init__(self, d):
        self.d = d
        cfg = os.path.join(d, "gw.yml")
        with open(cfg, "w") as f:
            f.write(f"sources:\n  - name: gw\n    paths: ['{d}/logs/gw.log']\n    rotated: ['{d}/logs/gw.log.*']\n    profile: msmail\n    start_at: beginning\n")
        self.cfg = cfg
    def start(self):
        self.port = free_port()
        self.p = subprocess.Popen([args.bin, "--config", self.cfg, "--state.dir", f"{self.d}/state",
                                   "--web.listen-address", f"127.0.0.1:{self.port}", "--log.poll-interval", "100ms"],
                                  stderr=subprocess.DEVNULL)
        self.wait_up()
    def wait_up(self):
        for _ in range(200):
            if scrape(self.port, self.metric) is not None:
                return
            time.sleep(0.02)
    def kill(self):
        self.p.send_signal(signal.SIGKILL); self.p.wait()
    def final(self):
        return scrape(self.port, self.metric) or {}
    def lifetime_total(self, last):
        return {}  # persistent: only the final value counts

class Mtail(Ours):
    name = "mtail"
    metric = "gateway_socket_errors_total"
    def start(self):
        self.port = free_port()
        self.p = subprocess.Popen(["mtail", "--progs", f"{args.shared}/bench/gateway.mtail", "--logs", f"{self.d}/logs/gw.log",
                                   "--address", "127.0.0.1", "--port", str(self.port), "--logtostderr=false",
                                   "--poll_interval", "100ms"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.wait_up()

def run(tool_cls):
    d = tempfile.mkdtemp(prefix="gwexp-once-")
    os.makedirs(f"{d}/logs")
    log = f"{d}/logs/gw.log"
    open(log, "w").close()
    tool = tool_cls(d)
    tool.start()
    rnd = random.Random(args.seed)
    kill_at = sorted(rnd.uniform(0.1, 0.9) * args.lines for _ in range(args.kills))
    per_gen = {}
    gen = 0
    counted_before = {}  # mtail: sum of values at each kill
    i = 0
    t0 = time.monotonic()
    next_rot = t0 + 0.3
    while i < args.lines:
        n = min(rnd.randint(1, 400), args.lines - i)
        with open(log, "a") as f:
            f.write("".join(f"{i + k:09d} ERROR write: ({gen}) network error\n" for k in range(n)))
        per_gen[gen] = per_gen.get(gen, 0) + n
        i += n
        due = t0 + i / args.rate
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        if kill_at and i >= kill_at[0]:
            kill_at.pop(0)
            if tool.name == "mtail":
                last = scrape(tool.port, tool.metric) or {}
                for k, v in last.items():
                    counted_before[k] = counted_before.get(k, 0) + v
            tool.kill()
            time.sleep(rnd.uniform(0, 0.3))
            tool.start()
        if time.monotonic() >= next_rot:
            gen += 1
            rotated = f"{log}.{gen}"
            kind = rnd.choice(["rename", "copytruncate", "recreate"])
            if kind == "rename":
                os.rename(log, rotated); open(log, "a").close()
            elif kind == "copytruncate":
                shutil.copyfile(log, rotated); open(log, "r+").truncate(0)
            else:
                # Deleted data is gone for any tool: delete only once the
                # tool has counted everything written (a scrape of ours also
                # persists it), waiting up to 2 s.
                deadline = time.monotonic() + 2
                while time.monotonic() < deadline:
                    now = scrape(tool.port, tool.metric) or {}
                    if sum(now.values()) + sum(counted_before.values()) >= i:
                        break
                    time.sleep(0.02)
                os.remove(log); open(log, "a").close()
            next_rot = time.monotonic() + rnd.uniform(0.2, 0.7)
    time.sleep(3)
    final = tool.final()
    tool.kill()
    total = dict(counted_before)
    for k, v in final.items():
        total[k] = total.get(k, 0) + v
    if os.environ.get("VERBOSE"):
        for g in sorted(per_gen):
            if total.get(g, 0) != per_gen[g]:
                print(f"  {tool.name} generation {g}: wrote {per_gen[g]}, counted {total.get(g, 0):.0f}")
    lost = sum(max(0, per_gen[g] - total.get(g, 0)) for g in per_gen)
    doubled = sum(max(0, total.get(g, 0) - per_gen[g]) for g in per_gen)
    shutil.rmtree(d, ignore_errors=True)
    return sum(total.values()), lost, doubled

print(f"{args.lines} lines, {args.kills} SIGKILL restarts, rotations by rename/copytruncate/recreate (seed {args.seed})")
print(f"{'tool':<18} {'counted':>10} {'lost':>8} {'doubled':>8}")
for cls in (Ours, Mtail):
    if cls is Mtail and not shutil.which("mtail"):
        print("mtail: not installed (apt-get install mtail)"); continue
    counted, lost, doubled = run(cls)
    print(f"{cls.name:<18} {counted:>10.0f} {int(lost):>8} {int(doubled):>8}")
