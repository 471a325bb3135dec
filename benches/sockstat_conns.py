#!/usr/bin/env python3
"""Holds N established loopback TCP connections open for benches/sockstat.sh.

The open-files limit may be far below the 2*N descriptors needed (a
container without CAP_SYS_RESOURCE cannot raise it), so the connections are
spread over worker processes, each within the limit: every worker opens one
listener on 127.0.0.1 (an ephemeral port) and connects to it, accepting each
connection as it is made (the listen backlog is far smaller than N). Both
ends stay open, so the kernel holds 2*N established sockets. Once all are
up, the listener ports are written, space-separated, to READY_FILE; then it
sleeps until killed (workers exit with their parent).

Loopback only; standard library only.

    python3 benches/sockstat_conns.py 50000 /tmp/ready
"""

import os
import resource
import signal
import socket
import sys
import time


def worker(count: int, ready_file: str, parent: int) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    held = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port))
        server, _ = listener.accept()
        held.append((client, server))
    with open(ready_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.rename(ready_file + ".tmp", ready_file)
    while os.getppid() == parent:
        time.sleep(0.5)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    total, ready_file = int(sys.argv[1]), sys.argv[2]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    per_worker = max(1, (min(soft, 1 << 20) - 64) // 2)
    counts = []
    while total > 0:
        counts.append(min(per_worker, total))
        total -= counts[-1]
    # Even shares: no worker's listener carries far more than the others.
    share, extra = divmod(sum(counts), len(counts))
    counts = [share + (1 if i < extra else 0) for i in range(len(counts))]

    start = time.monotonic()
    parent = os.getpid()
    children = []
    for i, count in enumerate(counts):
        pid = os.fork()
        if pid == 0:
            try:
                worker(count, f"{ready_file}.{i}", parent)
            finally:
                os._exit(0)
        children.append(pid)

    def stop(*_):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ports = []
    for i, pid in enumerate(children):
        path = f"{ready_file}.{i}"
        while not os.path.exists(path):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                print(f"worker {i} exited early ({status})", file=sys.stderr)
                stop()
            time.sleep(0.05)
        with open(path) as f:
            ports.append(f.read().strip())
    took = time.monotonic() - start
    print(
        f"opened {sum(counts)} connections in {len(counts)} workers "
        f"(ports {' '.join(ports)}) in {took:.1f}s",
        file=sys.stderr,
    )
    with open(ready_file + ".tmp", "w") as f:
        f.write(" ".join(ports) + "\n")
    os.rename(ready_file + ".tmp", ready_file)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
