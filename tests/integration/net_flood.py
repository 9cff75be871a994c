#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Idle unauthenticated TCP connections to one loopback port, reopened as
they are closed, for a bounded time.

usage: net_flood.py PORT COUNT SECONDS SOURCES
Connections come from SOURCES loopback addresses 127.0.1.1 .. 127.0.1.N
(COUNT spread over them).  They send nothing.  Prints one JSON line:
{"opened": N, "closed_by_server": N, "connect_errors": N}.
"""
import errno
import json
import selectors
import socket
import sys
import time

port, count, secs, nsrc = (int(sys.argv[1]), int(sys.argv[2]),
                           float(sys.argv[3]), int(sys.argv[4]))
sel = selectors.DefaultSelector()
stats = {"opened": 0, "closed_by_server": 0, "connect_errors": 0}
pending = []  # indexes to reopen (after a failed connect: not at once)


def open_one(i):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.bind(("127.0.1.%d" % (1 + i % nsrc), 0))
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    except OSError:
        stats["connect_errors"] += 1
        s.close()
        pending.append(i)
        return
    stats["opened"] += 1
    sel.register(s, selectors.EVENT_READ, i)


deadline = time.monotonic() + secs
for i in range(count):
    open_one(i)
while time.monotonic() < deadline:
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except (ConnectionError, OSError):
            data = b""
        if data:
            continue  # a TLS alert or such: keep reading until EOF
        sel.unregister(s)
        s.close()
        stats["closed_by_server"] += 1
        open_one(key.data)
    retry, pending[:] = pending[:], []
    for i in retry:
        open_one(i)
for key in list(sel.get_map().values()):
    key.fileobj.close()
print(json.dumps(stats))
