#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# One-connection TCP proxy for the kprop refusal tests, on 127.0.0.1:
#   kprop_proxy.py LISTEN_PORT TARGET_PORT READY [--flip N] [--cut N]
#                  [--rate BYTES_PER_S]
# --flip N: xor 0x01 into byte N of the client->server stream.
# --cut N:  close both sides after N client->server bytes.
# --rate:   throttle client->server.
# Creates the file READY once it listens.
import argparse, select, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("listen", type=int)
ap.add_argument("target", type=int)
ap.add_argument("ready")
ap.add_argument("--flip", type=int, default=-1)
ap.add_argument("--cut", type=int, default=-1)
ap.add_argument("--rate", type=int, default=0)
a = ap.parse_args()

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", a.listen))
ls.listen(1)
open(a.ready, "w").write("ready\n")
c, _ = ls.accept()
s = socket.create_connection(("127.0.0.1", a.target))
sent = 0
t0 = time.monotonic()
try:
    while True:
        r, _, _ = select.select([c, s], [], [], 60)
        if not r:
            break
        if c in r:
            d = c.recv(16384)
            if not d:
                break
            if a.cut >= 0 and sent + len(d) >= a.cut:
                s.sendall(d[: a.cut - sent])
                break
            if 0 <= a.flip - sent < len(d):
                i = a.flip - sent
                d = d[:i] + bytes([d[i] ^ 1]) + d[i + 1:]
            s.sendall(d)
            sent += len(d)
            if a.rate:
                ahead = sent / a.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        if s in r:
            d = s.recv(16384)
            if not d:
                break
            c.sendall(d)
finally:
    for x in (c, s, ls):
        x.close()
