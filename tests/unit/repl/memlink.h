/* SPDX-License-Identifier: MIT */
/*
 * In-memory links for in-process engine tests: the link.h seam
 * implemented with two byte queues, one per direction, between two
 * engines on one loop.  Nothing moves by itself: memlink_pump() moves what
 * one send queued into the receiving end's frame assembler (proto/frame.h,
 * as node_conn does), which hands whole frames to the engine
 * (node_repl_link_frame); it tells a
 * sender whose queue drained that it is writable, and delivers the
 * close to both ends (node_repl_link_down) after either closed, the way
 * node_conn does (close first, the closed callback later, no frame after).
 *
 * Ownership: the test owns a memlink_t (new .. free); its ends are the
 * io pointers the engines borrow while the link is up.  Loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/frame.h"
#include "node/repl/repl.h"

typedef struct memlink memlink_t;

/* One end: what the engine of this end sent, waiting for the other. */
typedef struct memlink_end {
	memlink_t *ml;
	node_repl_t *r;
	node_repl_link_t *link; /* NULL before up and after down */
	ks_buf_t q;		/* per send: u32 length, the bytes */
	size_t q_off;
	bool paused;	/* this end stopped reading */
	bool congested; /* told the engine so: writable is due */
	uint64_t in, out;
	size_t q_max; /* most bytes ever waiting in q */
	uint64_t pauses, writables;
	proto_frame_t framer; /* what the other end sent, into frames */
} memlink_end_t;

struct memlink {
	memlink_end_t end[2]; /* [0] dials, [1] accepts (any roles) */
	size_t limit;	      /* bytes waiting before "congested" */
	bool closing, down;
	int err; /* of the end that closed (the other sees KS_ENET) */
	int closer;
	char reason[200];
	/* optional: change what one send queued, in flight (from end
	 * \p from); return false to drop it */
	bool (*mangle)(memlink_t *ml, int from, ks_buf_t *frame, void *arg);
	void *mangle_arg;
	uint64_t frames; /* handed up so far, both ways */
};

/** \brief Make a link between \p a (end 0) and \p b (end 1) with a queue
 *         limit of \p limit bytes, and bring it up on both engines. */
memlink_t *memlink_up(node_repl_t *a, const char *a_peer, node_repl_t *b,
		      const char *b_peer, size_t limit);

/**
 * \brief Move at most \p max sends (0: no limit) that can move now,
 *        in order, alternating directions; deliver writable and the close.
 * \return the number of things that happened (0: nothing could move).
 */
size_t memlink_pump(memlink_t *ml, size_t max);

/** \brief Close from end \p from with \p err (as a dropped connection:
 *         KS_ENET), delivered on the next pump. */
void memlink_drop(memlink_t *ml, int from, int err, const char *reason);

/** \brief Sends waiting from end \p from. */
size_t memlink_waiting(const memlink_t *ml, int from);

/** \brief Free (after the close was delivered, or before up).  NULL ok. */
void memlink_free(memlink_t *ml);
