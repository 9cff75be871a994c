# SPDX-License-Identifier: MIT
"""One request on a kdcsyncd control socket, as `kdcsync` sends it.

Used by the Python scripts that read a node's status directly (without
starting `kdcsync`, so that a latency is the daemon's answer time only):
tests/integration/status_poll.py, bench/loop_sampler.py,
bench/capture_bench.py and bench/scale_bench.sh's sampler.

    import ks_status
    ms, doc = ks_status.status_json(path)        # `kdcsync status --json`
    ms, text = ks_status.request(path, "status")  # any control request

The socket (STATE_DIR/kdcsyncd.sock, node/ctl.h) takes one request line per
connection and answers until it closes the connection.  Two failures are
told apart, because callers count them differently:

  Unreachable  the socket is absent or refuses the connection: the node is
               not running (yet, or any more); nothing was asked.
  NoAnswer     connected, but no whole answer came: timeout, reset, an empty
               answer (the node closed without one), or for status_json an
               answer that is not a JSON object (e.g. "error: ...").

Each carries `ms` (time spent until the failure) and a one-line reason.
A latency is measured from before the connect to the end of the answer.
"""
import json
import socket
import time

DEFAULT_TIMEOUT = 10.0  # seconds for connect, send and each receive


class StatusError(Exception):
    def __init__(self, path, why, ms):
        super().__init__("%s: %s" % (path, why))
        self.ms = ms


class Unreachable(StatusError):
    pass


class NoAnswer(StatusError):
    pass


def request(path, req, timeout=DEFAULT_TIMEOUT):
    """Send REQ, return (ms, answer bytes); raise Unreachable or NoAnswer."""
    t0 = time.monotonic()

    def ms():
        return (time.monotonic() - t0) * 1000.0

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        try:
            s.connect(path)
        except OSError as e:
            raise Unreachable(path, "cannot connect (%s)" % e, ms()) from e
        got = bytearray()
        try:
            s.sendall(req.encode() + b"\n")
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except OSError as e:  # socket.timeout is an OSError
            raise NoAnswer(path, "no whole answer to '%s' (%s)" % (req, e),
                           ms()) from e
    finally:
        s.close()
    if not got:
        raise NoAnswer(path, "empty answer to '%s'" % req, ms())
    return ms(), bytes(got)


def status_json(path, timeout=DEFAULT_TIMEOUT):
    """`status json`: return (ms, dict); raise Unreachable or NoAnswer."""
    ms, got = request(path, "status json", timeout)
    try:
        doc = json.loads(got.decode())
    except ValueError as e:  # UnicodeDecodeError is a ValueError
        raise NoAnswer(path, "answer is not JSON (%s): %.80r" % (e, got),
                       ms) from e
    if not isinstance(doc, dict):
        raise NoAnswer(path, "answer is not a JSON object: %.80r" % got, ms)
    return ms, doc
