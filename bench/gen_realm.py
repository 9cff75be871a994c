#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Realistic-realm generator for the scale benchmark (bench/scale_bench.sh).

Writes a `kdb5_util load -update`-able dump ("kdb5_util load_dump version 7")
of N principals with varied names (users of mixed lengths, admin instances,
service principals on many hosts, a few long names) where every principal
has its own random key bytes.

Key data is shaped after real principals: TEMPLATE is a `kdb5_util dump` of
a realm with the same name and master key holding one principal per
enctype set (made with kadmin.local); each generated principal copies one
template's tl-data and key layout and replaces, per key, the encrypted key
bytes (after the 2-byte plaintext length, which stays) with random bytes
of the same length, and its kvno and timestamps with plausible values.
Encrypted keys are opaque to the KDB, so the result loads and the KDC
serves lookups and pre-authentication hints for every principal; only a
password check would fail (the random bytes do not decrypt under the
master key).  For kinit probes, create principals with a known password
with kadmin.local after the load.

  gen_realm.py TEMPLATE OUT N [--seed S] [--users NAME] [--services NAME]
      NAME: the template principal (without realm) used for users and for
      services (defaults: gen-tmpl-user, gen-tmpl-svc).
Prints "N principals, BYTES bytes" on stderr.
"""
import argparse
import os
import random
import struct
import sys

FIRST = ("anna ben carla dmitri eva farid gita hans ines jun karl lena mehmet "
         "nora olaf priya quinn rosa sven tara ugo vera wei xena yusuf zoe "
         "alexander bartholomew christina maximiliane").split()
LAST = ("smith mueller garcia tanaka ivanova okafor rossi dubois novak "
        "jensen kowalski silva nguyen haddad oconnor schmidt-wagner "
        "van-der-berg fitzgerald-armstrong").split()
SVC = ("HTTP host ldap imap smtp nfs cifs postgres MSSQLSvc ftp "
       "HTTP host host HTTP").split()
DEPT = ("eng ops fin hr lab dmz corp research build dev qa "
        "storage-cluster-04 europe-west").split()


def make_name(i, rng):
    """A unique, varied principal name (without realm) for index i."""
    tag = str(i)  # digits: names never contain digits otherwise
    r = rng.random()
    if r < 0.62:  # users: first.last + tag, 6..40 bytes
        return "%s.%s%s" % (rng.choice(FIRST), rng.choice(LAST), tag)
    if r < 0.70:  # short user ids
        return "u" + tag
    if r < 0.78:  # instances
        return "%s%s/%s" % (rng.choice(FIRST), tag,
                            rng.choice(("admin", "root", "batch")))
    if r < 0.97:  # services on hosts
        return "%s/%s-%s.%s.example.com" % (rng.choice(SVC),
                                            rng.choice(("web", "db", "app",
                                                        "ws", "node")),
                                            tag, rng.choice(DEPT))
    # long names: 100..300 bytes
    host = ".".join(rng.choice(DEPT) for _ in range(rng.randint(6, 20)))
    return "%s/%s-%s.%s.example.com" % (rng.choice(SVC), "long", tag, host)


class Template:
    """One template principal line split into the parts we vary."""

    def __init__(self, line):
        f = line.rstrip("\n").rstrip(";").split("\t")
        if f[0] != "princ":
            raise ValueError("not a principal line")
        self.head = f[1:2]  # len
        n_tl, n_key = int(f[3]), int(f[4])
        self.e_len = f[5]
        self.attrs = f[7:15]  # attributes .. fail_auth_count
        p = 15
        self.tl = []
        for _ in range(n_tl):
            self.tl.append((int(f[p]), int(f[p + 1]), f[p + 2]))
            p += 3
        self.keys = []
        for _ in range(n_key):
            ver, kvno = int(f[p]), int(f[p + 1])
            p += 2
            elems = []
            for _ in range(ver):
                elems.append((int(f[p]), int(f[p + 1]), f[p + 2]))
                p += 3
            self.keys.append((ver, kvno, elems))
        self.e_data = f[p]
        # the random bytes per principal: everything after each key's
        # 2-byte plaintext length
        self.rand_len = sum(e[0][1] - 2 for _, _, e in self.keys)

    def line(self, name, rng, rnd):
        now = 1764000000
        t_pw = now - rng.randint(0, 3 * 365 * 86400)
        kvno = rng.randint(1, 6)
        tl = []
        for typ, ln, hx in self.tl:
            if typ == 1 and ln == 4:  # last password change, LE time
                hx = struct.pack("<I", t_pw).hex()
            elif typ == 2 and ln >= 4:  # mod time (LE) + modifier name
                hx = struct.pack("<I", t_pw).hex() + hx[8:]
            tl.append("%d\t%d\t%s" % (typ, ln, hx))
        keys = []
        off = 0
        for ver, _, elems in self.keys:
            typ, ln, hx = elems[0]
            n = ln - 2
            k = hx[:4] + rnd[off:off + n].hex()
            off += n
            parts = ["%d\t%d" % (ver, kvno), "%d\t%d\t%s" % (typ, ln, k)]
            for e in elems[1:]:
                parts.append("%d\t%d\t%s" % e)
            keys.append("\t".join(parts))
        fields = (["princ"] + self.head +
                  [str(len(name)), str(len(self.tl)), str(len(self.keys)),
                   self.e_len, name] + self.attrs + tl + keys + [self.e_data])
        return "\t".join(fields) + ";\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("template")
    ap.add_argument("out")
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--users", default="gen-tmpl-user")
    ap.add_argument("--services", default="gen-tmpl-svc")
    a = ap.parse_args()
    tmpl = {}
    realm = None
    with open(a.template) as f:
        for line in f:
            if not line.startswith("princ\t"):
                continue
            name = line.split("\t")[6]
            base, _, r = name.rpartition("@")
            if base in (a.users, a.services):
                tmpl[base] = Template(line)
                realm = r
    for want in (a.users, a.services):
        if want not in tmpl:
            sys.exit("gen_realm: template principal %s not in %s" %
                     (want, a.template))
    users, svcs = tmpl[a.users], tmpl[a.services]
    rng = random.Random(a.seed)
    total = 0
    with open(a.out, "w") as out:
        out.write("kdb5_util load_dump version 7\n")
        buf = []
        for i in range(a.n):
            name = make_name(i, rng)
            t = svcs if "/" in name and not name.endswith(
                ("/admin", "/root", "/batch")) else users
            line = t.line(name + "@" + realm, rng, os.urandom(t.rand_len))
            buf.append(line)
            if len(buf) == 10000:
                s = "".join(buf)
                total += len(s)
                out.write(s)
                buf = []
        s = "".join(buf)
        total += len(s)
        out.write(s)
    print("%d principals, %d bytes" % (a.n, total), file=sys.stderr)


if __name__ == "__main__":
    main()
