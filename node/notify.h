/* SPDX-License-Identifier: MIT */
/*
 * The service manager's view of the daemon (systemd Type=notify), through
 * libsystemd's sd_notify():
 *
 *   READY=1       once the store is open, the KDB checked and the listeners
 *                 bound (node_notify_ready, end of node_daemon_start)
 *   RELOADING=1   a SIGHUP reload begins; READY=1 again when it is done
 *   STOPPING=1    the orderly shutdown begins
 *   STATUS=...    one line (role, seqs, lag) produced by the daemon's
 *                 callback; sent with READY and whenever it changes
 *   WATCHDOG=1    from a timer on the event loop at half of WATCHDOG_USEC
 *                 (sd_watchdog_enabled): a loop that stops turning stops
 *                 the pings, and systemd kills and restarts the service
 *
 * Without NOTIFY_SOCKET (not under systemd) every call is a no-op and no
 * timer runs.  All functions run on the loop thread.
 *
 * Ownership: node_notify_new() returns an object owned by the daemon,
 * closed with node_notify_close() (its timer handle is closed through the
 * loop; \p done runs once it is freed).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/buf.h"

typedef struct node_notify node_notify_t;

/* Produce the STATUS= line (one line, no newline) into \p out. */
typedef void (*node_notify_status_cb)(ks_buf_t *out, void *arg);

/** Status refresh period without a watchdog (with one: its half period). */
#define NODE_NOTIFY_STATUS_MS 5000u

/**
 * \brief Set up; starts the watchdog/status timer when NOTIFY_SOCKET is
 *        set.  \p status(arg) is called on the loop thread.
 * \return 0, KS_ENOMEM.
 */
int node_notify_new(uv_loop_t *loop, node_notify_status_cb status, void *arg,
		    node_notify_t **out);

/** \brief Whether the watchdog is on; \p usec gets WATCHDOG_USEC. */
bool node_notify_watchdog(const node_notify_t *n, uint64_t *usec);

/** \brief READY=1 with the current STATUS=. */
void node_notify_ready(node_notify_t *n);

/** \brief RELOADING=1 (a reload starts; node_notify_ready() ends it). */
void node_notify_reloading(node_notify_t *n);

/** \brief STOPPING=1 (idempotent). */
void node_notify_stopping(node_notify_t *n);

/** \brief Stop the timer and free; \p done(arg) runs from the loop. */
void node_notify_close(node_notify_t *n, void (*done)(void *), void *arg);
