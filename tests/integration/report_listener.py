#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Test listener for the KDB module's capture reports: listens on a Unix
# SOCK_SEQPACKET socket like the node does, decodes each message by the
# layout in bridge/report.h (independently of bridge/report.c), and appends
# "KIND NAME dropped=N" lines to OUT (flushed per message), with " wait"
# when the sender asks for an answer (flag 0x01), which it then gets at
# once, as from a node that captured the change.  Any message that does not
# match the layout is written as "BAD <hex>".
#   report_listener.py SOCKET OUT [--stall]
# --stall accepts connections but never reads (a wedged node).
import os, select, socket, struct, sys

KINDS = {1: "princ_put", 2: "princ_del", 3: "policy_put", 4: "policy_del",
         5: "lockout", 6: "mkey", 7: "load", 8: "lost"}

def decode(d):
    if len(d) < 24:
        return None
    magic, ver, kind, flags, res8, nlen, mid, dropped, res32 = \
        struct.unpack(">2sBBBBHQII", d[:24])
    if magic != b"KR" or ver != 1 or kind not in KINDS or res8 or res32 \
            or flags & ~1 or mid == 0 or len(d) != 24 + nlen:
        return None
    name = d[24:].decode()
    if (nlen == 0) != (kind in (7, 8)):
        return None
    return "%s %s dropped=%d%s" % (KINDS[kind], name or "-", dropped,
                                   " wait" if flags else ""), \
        (mid if flags else 0)

def answer(mid):  # KS_REPORT_ANSWER (kind 9) to request mid
    return struct.pack(">2sBBBBHQII", b"KR", 1, 9, 0, 0, 0, mid, 0, 0)

sock_path, out = sys.argv[1], sys.argv[2]
stall = "--stall" in sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sock_path)
s.listen(64)
open(out + ".ready", "w").close()
conns = []
with open(out, "a") as f:
    while True:
        r, _, _ = select.select([s] + ([] if stall else conns), [], [])
        for c in r:
            if c is s:
                conns.append(s.accept()[0])
                continue
            d = c.recv(70000)
            if not d:
                conns.remove(c)
                c.close()
                continue
            got = decode(d)
            f.write((got[0] if got else "BAD " + d.hex()) + "\n")
            f.flush()
            if got and got[1]:
                c.send(answer(got[1]))
