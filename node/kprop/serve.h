/* SPDX-License-Identifier: MIT */
/*
 * kprop receiver: accepts stock `kprop` in place of kpropd.  For each
 * connection: authenticate with the host keytab, check the client against
 * a kpropd.acl-format file exactly as kpropd does, receive the dump while
 * parsing it line by line into the bridge's full load (a side DB) and the
 * store's staging set, then install the side DB over the live KDB, install
 * the staging set in the store, and only then acknowledge.  A cut
 * transfer, a bad block, a size mismatch or a dump that does not parse
 * aborts both (the live KDB and store are untouched) and is logged.
 *
 * One transfer at a time: a connection that arrives while one is in
 * progress is accepted and closed at once (logged).  Every wait is bounded
 * by the per-connection timeout, and the whole connection by 4x that.
 *
 * Blocking; runs in the caller's thread.  The store is borrowed (it may be
 * shared with other threads of the daemon; store.h rules apply).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bridge/bridge.h"
#include "store/store.h"

typedef struct node_kprop_serve_opts {
	const char *realm;	    /* NULL = default realm */
	const char *keytab;	    /* NULL = default keytab */
	const char *principal;	    /* NULL = host/<this host> */
	const char *acl_file;	    /* kpropd.acl format (required) */
	uint64_t timeout_ms;	    /* per wait; 0 = 300 s */
	bridge_opts_t bridge;	    /* the KDB to load into */
	const volatile int *cancel; /* NULL, or ends a transfer when set */
} node_kprop_serve_opts_t;

typedef struct node_kprop_recv_result {
	uint64_t bytes;	  /* dump bytes received */
	uint64_t records; /* records loaded */
	uint64_t duration_us;
	int error;
	char client[256];
	char reason[512];
} node_kprop_recv_result_t;

/**
 * \brief Serve one accepted connection \p fd (closed on return).
 *        \p listen_fd (or -1) is polled meanwhile to refuse a second one.
 * \return 0 after a loaded and acknowledged transfer, else the error (the
 *         reason is in \p res and logged).
 */
int node_kprop_serve_one(const node_kprop_serve_opts_t *o, store_t *s, int fd,
			 int listen_fd, node_kprop_recv_result_t *res);

/**
 * \brief Accept and serve connections on \p listen_fd until *\p stop
 *        becomes nonzero (checked at least every 200 ms while idle), or
 *        after one connection when \p once.
 * \return 0, or the error of the last transfer when \p once.
 */
int node_kprop_serve_loop(const node_kprop_serve_opts_t *o, store_t *s,
			  int listen_fd, volatile int *stop, bool once);
