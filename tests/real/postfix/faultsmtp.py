#!/usr/bin/env python3
"""Fault-injecting SMTP server for capturing real Postfix client logs.

Python 3 stdlib only. Listens on 127.0.0.1 only and exits by itself after
--lifetime seconds. One behaviour per port (base = --base, default 2500):

  base+1  refused    nothing listens: connect() gets ECONNREFUSED
  base+2  greeting   accept, never send the 220 greeting (client times out)
  base+3  bodyclose  greet, EHLO/MAIL/RCPT/DATA, read ~64 KiB of the body, close()
  base+4  rst        RST right after accept (SO_LINGER 0 + close)
  base+5  ok         normal server: accepts the mail (control)
  base+6  bodyrst    like bodyclose, but RST (SO_LINGER 0) mid-body
  base+7  eodclose   read the whole body incl. the final ".", close without reply
"""
import argparse
import socket
import struct
import sys
import threading
import time

HOLD_MAX = 30.0        # longest a "greeting" connection is held open
IO_TIMEOUT = 30.0      # every socket read is bounded
BODY_CUT = 64 * 1024   # bytes of body read before bodyclose/bodyrst hang up


def log(msg):
    sys.stderr.write("faultsmtp %s %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def rst_close(conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class Session:
    def __init__(self, conn):
        self.conn = conn
        self.conn.settimeout(IO_TIMEOUT)
        self.buf = b""

    def send(self, line):
        self.conn.sendall(line.encode("ascii") + b"\r\n")

    def readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.conn.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("ascii", "replace")

    def command_phase(self):
        """Greet and answer until DATA got its 354. False if client left."""
        self.send("220 fault.test ESMTP faultsmtp")
        while True:
            line = self.readline()
            if line is None:
                return False
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                # No PIPELINING / CHUNKING: keep the dialogue line by line.
                self.send("250-fault.test")
                self.send("250 8BITMIME")
            elif verb == "HELO":
                self.send("250 fault.test")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.send("250 2.0.0 OK")
            elif verb == "DATA":
                self.send("354 End data with <CR><LF>.<CR><LF>")
                return True
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return False
            else:
                self.send("502 5.5.2 Command not implemented")

    def read_body(self, limit=None):
        """Read the body; stop after `limit` bytes, or at the final dot."""
        got = len(self.buf)
        while True:
            if limit is None and (self.buf.endswith(b"\r\n.\r\n") or b"\r\n.\r\n" in self.buf[-8192:]):
                self.buf = b""
                return True
            if limit is not None and got >= limit:
                return True
            chunk = self.conn.recv(65536)
            if not chunk:
                return False
            got += len(chunk)
            if limit is None:
                self.buf = (self.buf + chunk)[-8192:]


def handle(mode, conn):
    try:
        if mode == "rst":
            rst_close(conn)
            return
        if mode == "greeting":
            conn.settimeout(HOLD_MAX)
            try:
                while conn.recv(4096):
                    pass
            except socket.timeout:
                pass
            conn.close()
            return
        s = Session(conn)
        if mode == "ok":
            if s.command_phase() and s.read_body():
                s.send("250 2.0.0 Ok: queued as FAULTOK")
                _ok_continue(s)  # further MAIL/RCPT/DATA/QUIT, no new greeting
            conn.close()
            return
        if not s.command_phase():
            conn.close()
            return
        if mode == "bodyclose":
            s.read_body(BODY_CUT)
            conn.close()
        elif mode == "bodyrst":
            s.read_body(BODY_CUT)
            rst_close(conn)
        elif mode == "eodclose":
            s.read_body()
            conn.close()
    except (OSError, socket.timeout) as exc:
        log("%s: %s" % (mode, exc))
        try:
            conn.close()
        except OSError:
            pass


def _ok_continue(s):
    while True:
        line = s.readline()
        if line is None:
            break
        verb = line.split(" ", 1)[0].upper()
        if verb == "QUIT":
            s.send("221 2.0.0 Bye")
            break
        if verb == "DATA":
            s.send("354 End data with <CR><LF>.<CR><LF>")
            if not s.read_body():
                break
            s.send("250 2.0.0 Ok: queued as FAULTOK")
        elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
            s.send("250 2.0.0 OK")
        elif verb in ("EHLO", "HELO"):
            s.send("250 fault.test")
        else:
            s.send("502 5.5.2 Command not implemented")
    s.conn.close()


def serve(mode, port, stop):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    ls.settimeout(0.5)
    log("listening %s on 127.0.0.1:%d" % (mode, port))
    while not stop.is_set():
        try:
            conn, peer = ls.accept()
        except socket.timeout:
            continue
        log("%s: connection from %s:%d" % (mode, peer[0], peer[1]))
        threading.Thread(target=handle, args=(mode, conn), daemon=True).start()
    ls.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=int, default=2500)
    ap.add_argument("--lifetime", type=float, default=900.0)
    args = ap.parse_args()
    modes = {2: "greeting", 3: "bodyclose", 4: "rst", 5: "ok", 6: "bodyrst", 7: "eodclose"}
    stop = threading.Event()
    for off, mode in sorted(modes.items()):
        threading.Thread(target=serve, args=(mode, args.base + off, stop), daemon=True).start()
    # base+1 ("refused") deliberately has no listener.
    deadline = time.time() + args.lifetime
    try:
        while time.time() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop.set()
    time.sleep(1)
    log("lifetime over, exiting")


if __name__ == "__main__":
    main()
