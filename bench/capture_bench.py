#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Per-write-path propagation through the KDB module (issue 10).

  KS_BUILD_DIR=/path/to/build bench/capture_bench.py [-n PRINCIPALS] [-k 10]
      [--settle 15]

Brings up deploy/pair.sh (PRINCIPALS of a generated realistic realm, own
random keys and varied names, preloaded; replicate_lockout on, scan_interval
1h so no scan can do the work) with kadmind on the primary,
then for each write path runs K changes, one at a time.  For each change:
the replica's applied seq is read, the command runs, and from the moment it
returns the replica node's control socket is polled (status json, about
every 0.5 ms) until its applied seq has moved by the change's log entries:
the node applies a batch to the replica's KDB before it records the
position, so that is when the replica's kadmin.local and KDC show it.
Prints a table (p50 / p99 / max, ms) and one JSON line.  Never asserts.

The figure includes the capture (module report, node re-read, store
commit), shipping over TLS and the replica's KDB write and store commit; it
excludes the polling (an extra ~0.5 ms resolution).  Whole-database loads
include the scan the load report asks for (it grows with the realm).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "integration", "lib"))
import ks_status  # noqa: E402
PAIR = os.path.join(SRC, "deploy", "pair.sh")
REALM = os.environ.get("PAIR_REALM", "PAIR.TEST")
MASTER_PW = os.environ.get("PAIR_MASTER_PW", "pair-master-password-1")


def sh(cmd, env=None, inp=None, check=True):
    r = subprocess.run(cmd, shell=True, executable="/bin/bash", env=env,
                       input=inp, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and r.returncode != 0:
        sys.exit("failed: %s\n%s" % (cmd, r.stdout))
    return r.stdout


def status(sock_path):
    try:
        return ks_status.status_json(sock_path)[1]
    except ks_status.StatusError as e:
        sys.exit("failed: status of the node: %s" % e)


def applied(sock_path):
    return status(sock_path)["applied_seq"]


def pct(v, p):
    v = sorted(v)
    i = max(1, int(p / 100.0 * len(v) + 0.999999))
    return v[i - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--settle", type=float, default=15.0,
                    help="seconds to wait after setup before measuring")
    a = ap.parse_args()
    if "KS_BUILD_DIR" not in os.environ:
        sys.exit("KS_BUILD_DIR: a build with node/kdcsyncd and bridge/kdbmod")
    w = tempfile.mkdtemp(prefix="ks-capbench.")
    pdir = os.path.join(w, "pair")
    kadmind = None
    try:
        t0 = time.time()
        # A realistic realm (own random keys, varied names: bench/scale_lib.sh),
        # not pair.sh -n, whose principals all share one key.
        benv = dict(os.environ, KS_SOURCE_DIR=SRC, SRC=SRC, W=w,
                    PAIR_REALM=REALM, REALM=REALM,
                    PAIR_MASTER_PW=MASTER_PW, MASTER_PW=MASTER_PW)
        sh("set -e; . %s/tests/integration/lib/realm.sh; "
           ". %s/bench/scale_lib.sh; realistic_pair_up %s %d "
           "--replicate-lockout --scan-interval 1h"
           % (SRC, SRC, pdir, a.n), env=benv)
        print("pair up with %d principals in %.0f s" % (a.n, time.time() - t0),
              file=sys.stderr)
        env = dict(os.environ, KS_SOURCE_DIR=SRC)
        for line in open(os.path.join(pdir, "env")):
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                k = k.replace("export ", "")
                if k != "PATH":
                    env[k] = v.strip("'\"")
        realm = env["REALM"]
        pe = dict(env, KRB5_CONFIG=env["PRIMARY_KRB5_CONFIG"],
                  KRB5_KDC_PROFILE=env["PRIMARY_KDC_PROFILE"])
        rsock = os.path.join(env["REPLICA_DIR"], "node", "kdcsyncd.sock")
        # kadmind for remote kadmin and kpasswd
        out = sh("set -e; . %s/tests/integration/lib/kadmind.sh; "
                 "kadmind_start %s Admin-pass-1 >&2; echo $KADMIND_PID"
                 % (SRC, w), env=env)
        kadmind = int(out.strip().splitlines()[-1])

        def kl(q):
            sh("kadmin.local -r %s -q '%s'" % (realm, q), env=pe)

        kl("addprinc -pw Kp-pass-0 kpuser")
        kl("addprinc -randkey strs")
        kl("addpol polm")
        kl("addprinc -randkey rem")
        kl("addprinc -pw Lock-pass-1 +requires_preauth lockme")
        sh("kdb5_util -r %s dump %s/one.dump" % (realm, w), env=pe)
        dump = open(w + "/one.dump").read().splitlines()
        tmpl = [l for l in dump if l.startswith("princ\t") and
                l.split("\t")[6] == "strs@" + realm][0]
        kp_pw = ["Kp-pass-0"]

        def upd(i):
            f = tmpl.split("\t")
            f[8] = str(3600 * (i + 1))  # max_life
            open(w + "/upd.dump", "w").write(dump[0] + "\n" + "\t".join(f) + "\n")
            return "kdb5_util -r %s load -update %s/upd.dump" % (realm, w)

        def kpasswd(i):
            old, new = kp_pw[0], "Kp-pass-%d" % (i + 1)
            kp_pw[0] = new
            sh("kpasswd kpuser@%s" % realm, env=dict(
                pe, KRB5CCNAME="FILE:%s/cc.kp" % w),
               inp="%s\n%s\n%s\n" % (old, new, new))

        ccadm = "FILE:%s/cc.adm" % w
        paths = [
            ("kadmin.local addprinc", lambda i: kl("addprinc -randkey cap%03d" % i)),
            ("kadmin.local setstr", lambda i: kl("setstr strs k v%d" % i)),
            ("kadmin.local addpol", lambda i: kl("addpol pol%03d" % i)),
            ("kadmin.local modpol", lambda i: kl('modpol -maxlife "%d hours" polm' % (i + 1))),
            ("kadmin (kadmind) modprinc", lambda i: sh(
                "kadmin -r %s -p admin/admin@%s -w Admin-pass-1 -q "
                "'modprinc -maxlife \"%d hours\" rem'" % (realm, realm, i + 1),
                env=dict(pe, KRB5CCNAME=ccadm))),
            ("kpasswd (kadmind)", kpasswd),
            ("kdb5_util load -update (1)", lambda i: sh(upd(i), env=pe)),
            ("krb5kdc failed AS (lockout)", lambda i: sh(
                "kinit lockme@%s" % realm, env=dict(pe, KRB5CCNAME="FILE:%s/cc.l" % w),
                inp="wrong\n", check=False)),
            ("kdb5_util load (whole DB)", None),
        ]
        # let the start-up work settle (the initial full copy's writes,
        # the page cache) before measuring
        time.sleep(a.settle)
        results = []
        for name, fn in paths:
            lat = []
            for i in range(a.k):
                if fn is None:  # a whole load: dump once, change, load
                    if i == 0:
                        sh("kdb5_util -r %s dump %s/all.dump" % (realm, w), env=pe)
                    lines = open(w + "/all.dump").read().splitlines(True)
                    for j, l in enumerate(lines):
                        if l.startswith("princ\t") and l.split("\t")[6] == "strs@" + realm:
                            f = l.split("\t")
                            f[8] = str(7200 * (i + 1))
                            lines[j] = "\t".join(f)
                    open(w + "/all2.dump", "w").writelines(lines)
                    cmd = lambda: sh("kdb5_util -r %s load %s/all2.dump" % (realm, w), env=pe)
                else:
                    cmd = lambda: fn(i)
                if "lockout" in name:
                    # The node captures its KDC's lockout writes at most
                    # once per coalescing window (REPL_COALESCE_WINDOW_MS,
                    # 150 ms: a busy KDC's writes are bounded, not one
                    # commit each).  A failure inside the window of the
                    # previous one waits for it by design; this row
                    # measures an isolated failure, so space them out.
                    time.sleep(0.2)
                before = applied(rsock)
                cmd()
                t = time.monotonic()
                deadline = t + 30
                while applied(rsock) <= before:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.0003)  # leave the nodes some CPU
                lat.append((time.monotonic() - t) * 1000.0)
            results.append({"path": name, "n": a.k, "p50_ms": round(pct(lat, 50), 2),
                            "p99_ms": round(pct(lat, 99), 2),
                            "max_ms": round(max(lat), 2)})
            print("%-32s p50 %7.2f  p99 %7.2f  max %7.2f ms" %
                  (name, pct(lat, 50), pct(lat, 99), max(lat)), file=sys.stderr)
        st = status(os.path.join(env["PRIMARY_DIR"], "node", "kdcsyncd.sock"))
        print("\n| write path (%d changes each, %d principals) | p50 ms | p99 ms | max ms |"
              % (a.k, a.n))
        print("|---|---|---|---|")
        for r in results:
            print("| %s | %.2f | %.2f | %.2f |" % (r["path"], r["p50_ms"], r["p99_ms"], r["max_ms"]))
        print("\nprimary: %d scans (start + one per whole load), reports %s"
              % (st["capture"]["scans"], json.dumps(st["capture"]["reports"])))
        print(json.dumps({"bench": "capture", "principals": a.n, "paths": results,
                          "scans": st["capture"]["scans"]}))
    finally:
        if kadmind:
            try:
                os.kill(kadmind, 15)
            except OSError:
                pass
        sh("%s down %s" % (PAIR, pdir), check=False)
        sh("rm -rf %s" % w, check=False)


if __name__ == "__main__":
    main()
