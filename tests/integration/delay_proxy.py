#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TCP relay that delays every chunk it forwards, both ways, keeping the
byte order: the replication link's added latency and jitter (this kernel has
no netem).  The delay is read from a file: "MEAN_MS JITTER_MS" (uniform
jitter), "0 0" for none; re-read every 100 ms.

usage: delay_proxy.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT FILE
Runs until killed (SIGTERM).
"""
import asyncio
import os
import random
import signal
import sys
import time

lhost, lport, thost, tport, cfg = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                   int(sys.argv[4]), sys.argv[5])
delay = [0.0, 0.0]


async def watch_config():
    mtime = None
    while True:
        try:
            m = os.stat(cfg).st_mtime_ns
            if m != mtime:
                mtime = m
                mean, jit = open(cfg).read().split()[:2]
                delay[:] = [float(mean) / 1000, float(jit) / 1000]
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.1)


async def pump(reader, writer):
    """Forward chunks, each released at now + delay (never before the one
    ahead of it)."""
    q = asyncio.Queue()

    async def sender():
        while True:
            item = await q.get()
            if item is None:
                break
            at, data = item
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.ensure_future(sender())
    last = 0.0
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            mean, jit = delay
            at = time.monotonic() + max(0.0, mean + random.uniform(-jit, jit))
            last = max(last, at)
            q.put_nowait((last, data))
    except (ConnectionError, OSError):
        pass
    q.put_nowait(None)
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def handle(creader, cwriter):
    try:
        ureader, uwriter = await asyncio.open_connection(thost, tport)
    except OSError:
        cwriter.close()
        return
    await asyncio.gather(pump(creader, uwriter), pump(ureader, cwriter),
                         return_exceptions=True)


async def main():
    server = await asyncio.start_server(handle, lhost, lport)
    asyncio.ensure_future(watch_config())
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with server:
        await stop


asyncio.run(main())
