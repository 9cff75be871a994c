#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print a free TCP port on 127.0.0.1 for a daemon that binds it later.

Asking the kernel for port 0 hands out a port from the ephemeral range,
which any outgoing connection (of this test or a parallel one) may take
before the daemon binds it, and two parallel callers may be handed the
same port.  So: a random port below the ephemeral range, bindable now, and
reserved for an hour by an atomic mkdir under $TMPDIR/ks-ports so that
parallel tests (ctest -j) never pick the same one.  Reservations older
than an hour are taken back.
"""
import os
import random
import socket
import sys
import time

RESERVE_S = 3600


def ephemeral():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def main():
    lo, hi = ephemeral()
    ranges = [(r0, r1) for r0, r1 in ((10000, lo - 1), (hi + 1, 65535)) if r1 > r0]
    if not ranges:
        ranges = [(1024, 65535)]
    lockdir = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ks-ports")
    os.makedirs(lockdir, mode=0o1777, exist_ok=True)
    for _ in range(2000):
        r0, r1 = random.choice(ranges)
        port = random.randint(r0, r1)
        lock = os.path.join(lockdir, str(port))
        try:
            os.mkdir(lock)
        except FileExistsError:
            try:
                if time.time() - os.stat(lock).st_mtime > RESERVE_S:
                    os.rmdir(lock)
            except OSError:
                pass
            continue
        except OSError:
            lock = None  # no reservations possible: still a good port
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue  # in use: keep the reservation, try another
        finally:
            s.close()
        print(port)
        return 0
    print("free-port: no free port found", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
