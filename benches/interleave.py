#!/usr/bin/env python3
"""Times commands side by side, round robin, for ratios on a noisy machine.

    benches/interleave.py [-r RUNS] [-w WARMUP] [--export-json FILE] CMD...

Each CMD is one string, split as a shell would split it but run without a
shell (use `bash -c "..."` for a pipe). Run k of every command comes before
run k+1 of any, so a slow stretch of a shared machine (another tenant, a
frequency change) lands on all of them alike instead of on whichever ran
then; hyperfine runs each command's batch in turn, and on this 2-core VM
two batches of the same binary differed by 15%. Reports the median, mean,
minimum and maximum wall time, and median user and system time, per command;
the JSON has hyperfine's layout ("results", each with "command", "median",
"mean", "min", "max", "user", "system", "times"), so readers of either work.
"""
import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("-r", "--runs", type=int, default=15)
ap.add_argument("-w", "--warmup", type=int, default=1)
ap.add_argument("--export-json")
ap.add_argument("commands", nargs="+")
args = ap.parse_args()
if args.runs < 1:
    ap.error("--runs must be at least 1")


def once(argv):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{shlex.join(argv)}: exit status {done.returncode}\n{done.stderr.decode(errors='replace')}")
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


argvs = [shlex.split(c) for c in args.commands]
for _ in range(args.warmup):
    for argv in argvs:
        once(argv)
runs = [[] for _ in argvs]
for _ in range(args.runs):
    for k, argv in enumerate(argvs):
        runs[k].append(once(argv))

results = []
for command, samples in zip(args.commands, runs):
    walls = [s[0] for s in samples]
    results.append({
        "command": command,
        "median": statistics.median(walls),
        "mean": statistics.mean(walls),
        "stddev": statistics.stdev(walls) if len(walls) > 1 else 0.0,
        "min": min(walls),
        "max": max(walls),
        "user": statistics.median(s[1] for s in samples),
        "system": statistics.median(s[2] for s in samples),
        "times": walls,
    })
for i, r in enumerate(results, 1):
    print(f"Command {i}: {r['command']}")
    print(f"  median {r['median'] * 1e3:9.1f} ms   mean {r['mean'] * 1e3:9.1f} ms ± {r['stddev'] * 1e3:.1f}"
          f"   min {r['min'] * 1e3:.1f}   max {r['max'] * 1e3:.1f}"
          f"   [user {r['user'] * 1e3:.1f} ms, system {r['system'] * 1e3:.1f} ms]   {args.runs} runs, interleaved")
if args.export_json:
    with open(args.export_json, "w") as f:
        json.dump({"results": results}, f, indent=1)
