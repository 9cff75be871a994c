#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A stand-in for systemd's notification socket: binds the AF_UNIX datagram
# socket named by argv[1] and appends every message to argv[2] as
# "<monotonic seconds> <message with newlines as '|'>", one line each, so
# a test can check READY=1, STATUS=, WATCHDOG=1 and their timing.  Runs
# until killed (SIGTERM) by the test that started it.
import os
import socket
import sys
import time

path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as out:
    while True:
        data = s.recv(4096)
        text = data.decode("utf-8", "replace").strip("\n").replace("\n", "|")
        out.write("%.3f %s\n" % (time.monotonic(), text))
