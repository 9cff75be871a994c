/* SPDX-License-Identifier: MIT */
/*
 * How long the event loop is busy between two waits for I/O: the longest
 * time a status request (or a keepalive, or an ack) can wait to be read.
 * A uv_prepare handle runs just before each poll; the time since the last
 * one, minus what libuv counted as idle in the poll (UV_METRICS_IDLE_TIME),
 * is one iteration's busy time: every callback the loop ran in a row.
 * Kept as a histogram (common/hist.h), the maximum since start, the
 * maximum of the last minute and of the last two seconds (per-second
 * bins) and counts over 10 ms and
 * 100 ms, for status and metrics (operators see loop stalls; the
 * scale benchmark reads them around each phase).
 *
 * Also the loop thread's CPU time per iteration (CLOCK_THREAD_CPUTIME_ID):
 * on a loaded machine a busy iteration may be mostly waiting for a CPU;
 * the CPU time is what the loop's own callbacks cost.
 *
 * Threads: loop thread only (the prepare callback and the reads).
 * Ownership: the daemon's (new .. close .. free); the prepare handle is
 * unreferenced, so it never keeps the loop alive.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "node/status.h"

typedef struct node_loopstat node_loopstat_t;

/** \brief Start measuring \p loop (turns on its idle-time metric). */
int node_loopstat_new(uv_loop_t *loop, node_loopstat_t **out);

/** \brief Stop; \p done(arg) runs from the loop once the handle closed. */
void node_loopstat_close(node_loopstat_t *s, void (*done)(void *), void *arg);

/** \brief Free (after close's callback).  NULL is fine. */
void node_loopstat_free(node_loopstat_t *s);

/** \brief The figures now (present = false for NULL). */
void node_loopstat_get(const node_loopstat_t *s, node_status_loop_t *out);
