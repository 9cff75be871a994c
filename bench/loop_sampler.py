#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Status latency and event-loop stalls of kdcsyncd nodes during one phase.

loop_sampler.py STOPFILE OUT EVERY_MS NAME=SOCKET...
Sends "status json" (what `kdcsync status --json` sends) to each node's
control socket every EVERY_MS until STOPFILE exists, timing each answer
from connect to end of answer.  From the answers' "loop" object (the
node's own measure of its loop iterations, node/loopstat.h; "cpu": the
loop thread's CPU time in one iteration, without waits for a CPU) it takes
the iterations over 10 ms and over 100 ms during the phase (last answer
minus first) and the longest iteration seen in any answer's last two
seconds (so a stall from one second before the phase may count).  Writes one JSON object per node to OUT (one line):
{"NAME": {"samples", "failed", "p50_ms", "p99_ms", "max_ms",
"loop_busy_max_ms", "loop_over_10ms", "loop_over_100ms"}, ...}.
STOPFILE.ready is created once the first round of requests is done (the
caller waits for it, so a short phase is sampled), and one more round
follows STOPFILE.  A socket that is absent or refuses (a node starting) is retried and not
counted; "first_answer_ms" is when the first answer came, from the
phase's start (STOPFILE.t0, epoch ms; else the sampler's first round;
negative: the node answered before); an answer that does not come within 10 s counts as
failed.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests", "integration", "lib"))
import ks_status  # noqa: E402


def ask(path):
    """(ms, doc); (None, None): not there (yet), not counted; (ms, False):
    no whole answer, counted as failed."""
    try:
        return ks_status.status_json(path)
    except ks_status.Unreachable:
        return None, None
    except ks_status.NoAnswer as e:
        return e.ms, False


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    i = max(1, int(p / 100.0 * len(v) + 0.999999))
    return round(v[i - 1], 2)


def main():
    stop, out, every = sys.argv[1], sys.argv[2], int(sys.argv[3]) / 1000.0
    nodes = dict(a.split("=", 1) for a in sys.argv[4:])
    lat = {n: [] for n in nodes}
    failed = {n: 0 for n in nodes}
    first, last, peak, up, cpu = {}, {}, {}, {}, {}
    ready = stop + ".ready"
    first_round = time.time()
    done = False
    while not done:
        # one last round after STOPFILE: every phase gets a sample
        done = os.path.exists(stop)
        t0 = time.monotonic()
        for n, path in nodes.items():
            ms, doc = ask(path)
            if ms is None:
                continue
            if doc is False:
                failed[n] += 1
                continue
            lat[n].append(ms)
            up.setdefault(n, time.time())
            if "loop" in doc:
                first.setdefault(n, doc["loop"])
                last[n] = doc["loop"]
                peak[n] = max(peak.get(n, 0), doc["loop"]["busy_max_2s_us"])
                cpu[n] = max(cpu.get(n, 0), doc["loop"].get("cpu_max_2s_us", 0))
        if not os.path.exists(ready):
            open(ready, "w").close()  # the first round is done
        if not done:
            time.sleep(max(0.0, every - (time.monotonic() - t0)))
    # the phase's start: STOPFILE.t0 (epoch ms, written by the caller
    # once we were ready), else our first round
    t0 = first_round
    if os.path.exists(stop + ".t0"):
        with open(stop + ".t0") as f:
            t0 = int(f.read().strip()) / 1000.0
    res = {}
    for n in nodes:
        r = {"samples": len(lat[n]), "failed": failed[n],
             "p50_ms": pct(lat[n], 50), "p99_ms": pct(lat[n], 99),
             "max_ms": pct(lat[n], 100),
             "first_answer_ms": round((up[n] - t0) * 1000.0, 1)
             if n in up else None}
        if n in last:
            r["loop_busy_max_ms"] = round(peak[n] / 1000.0, 1)
            r["loop_cpu_max_ms"] = round(cpu[n] / 1000.0, 1)
            r["loop_over_10ms"] = last[n]["over_10ms"] - first[n]["over_10ms"]
            r["loop_over_100ms"] = last[n]["over_100ms"] - first[n]["over_100ms"]
        res[n] = r
    with open(out, "w") as f:
        f.write(json.dumps(res) + "\n")


main()
