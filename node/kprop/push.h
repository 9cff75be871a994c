/* SPDX-License-Identifier: MIT */
/*
 * kprop sender: one full propagation of the node's store to a stock kpropd
 * (or to a kdcsync kprop listener), like `kprop -f`, but the dump is
 * streamed from the store (the "kdb5_util load_dump version 7" header line,
 * then every record value in key order: policies, then principals), never
 * written to disk.  The size is counted in a first pass over the same read
 * transaction, so it matches the bytes sent.
 *
 * Blocking; usable from a thread.  The store is borrowed for the call (one
 * read transaction, held for the whole push).
 */
#pragma once

#include <stdint.h>

#include "store/store.h"

#define KPROP_DUMP_HEADER "kdb5_util load_dump version 7\n"

typedef struct node_kprop_push_opts {
	const char *host;	    /* replica host: target host/<host>@REALM */
	uint16_t port;		    /* 0 = 754 */
	const char *realm;	    /* NULL = default realm */
	const char *keytab;	    /* NULL = default keytab (KRB5_KTNAME) */
	const char *principal;	    /* NULL = host/<this host> */
	uint64_t timeout_ms;	    /* per wait; 0 = 300 s (the ack waits for
				   the replica's load) */
	const volatile int *cancel; /* NULL, or ends the push when set */
} node_kprop_push_opts_t;

typedef struct node_kprop_result {
	uint64_t bytes;	      /* dump bytes sent */
	uint64_t duration_us; /* connect to ack */
	int error;	      /* KS_EOK or the failure */
	char reason[512];     /* kprop-like one-line message on failure */
	uint8_t digest[32];   /* store digest of the snapshot sent */
} node_kprop_result_t;

/**
 * \brief Push the whole store to \p o->host.
 * \return 0 after the replica's acknowledgement (it loaded the dump), or
 *         the error also stored in \p res (with the reason); KS_ESTATE
 *         for an empty store (nothing is sent: an empty dump would wipe
 *         the replica).
 */
int node_kprop_push(const node_kprop_push_opts_t *o, store_t *s,
		    node_kprop_result_t *res);
