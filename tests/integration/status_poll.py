#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Poll kdcsyncd control sockets with "status" and report answer latency.

status_poll.py STOPFILE OUT SOCKET...
Polls every socket in turn (one request per connection, as kdcsync does)
until STOPFILE exists, then writes "count p50_ms p99_ms max_ms failures"
to OUT.  A poll that gets no reply within 10 s counts as a failure.
Measures the daemon's answer time, not kdcsync's start-up.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import ks_status  # noqa: E402


def poll(path):
    """The answer time in ms, or None: no answer (the node should be up,
    so a socket that refuses counts as a failure too)."""
    try:
        return ks_status.request(path, "status")[0]
    except ks_status.StatusError:
        return None


def main():
    stop, out, socks = sys.argv[1], sys.argv[2], sys.argv[3:]
    lat, fails = [], 0
    while not os.path.exists(stop):
        for p in socks:
            ms = poll(p)
            if ms is None:
                fails += 1
            else:
                lat.append(ms)
        time.sleep(0.02)
    lat.sort()
    n = len(lat)

    def q(f):
        return lat[min(n - 1, int(f * n))] if n else 0.0

    with open(out, "w") as f:
        f.write("%d %.1f %.1f %.1f %d\n" % (n, q(0.5), q(0.99),
                                            lat[-1] if n else 0.0, fails))


main()
