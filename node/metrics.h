/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus endpoint: `[metrics] listen = ADDRESS:PORT` serves
 * GET /metrics (text exposition 0.0.4) with libmicrohttpd, which parses
 * HTTP so that we do not.  MHD runs without a thread of its own: in its
 * epoll mode it exposes one epoll descriptor, which the daemon's libuv
 * loop polls (uv_poll) and hands back to MHD_run(), with a loop timer for
 * MHD's connection timeouts.  A scrape is therefore answered on the loop
 * thread, rendered at that moment from the same status data as `kdcsync
 * status` (node/status.h): nothing is shared between threads, no copy can
 * go stale, and a wedged loop shows as a scrape timeout (the `up` series
 * Prometheus records) as well as a missed systemd watchdog ping.
 *
 * Ownership: node_metrics_open() returns an object the daemon owns until
 * node_metrics_close(); \p done runs from the loop once it is freed.
 */
#pragma once

#include <stdint.h>

#include <uv.h>

#include "common/buf.h"

typedef struct node_metrics node_metrics_t;

/* Append the exposition text to \p out; 0 or KS_E* (answered with 500). */
typedef int (*node_metrics_render_cb)(ks_buf_t *out, void *arg);

/**
 * \brief Listen on \p host:\p port (numeric address or a name resolving
 *        to one) and answer GET /metrics with \p render(arg).
 * \return 0, KS_EADDRINUSE, KS_ENET (cannot bind; logged with the key to
 *         fix), KS_ENOMEM.
 */
int node_metrics_open(uv_loop_t *loop, const char *host, uint16_t port,
		      node_metrics_render_cb render, void *arg,
		      node_metrics_t **out);

/** \brief Stop listening, drop connections; \p done(arg) runs from the
 *         loop once everything is freed. */
void node_metrics_close(node_metrics_t *m, void (*done)(void *), void *arg);
