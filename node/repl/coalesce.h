/* SPDX-License-Identifier: MIT */
/*
 * The replica's lockout coalescer (PROTOCOL.md §3.10), as pure code: the
 * set of principals whose lockout fields this replica's KDC wrote since the
 * last flush, and when the next flush is due.
 *
 * A busy KDC writes lockout fields at its AS-request rate (each success
 * updates last_success).  The loop adds each LOCKOUT report's name here; a
 * name already pending costs nothing more (coalesced).  A flush takes the
 * whole set; the worker then reads each principal's fields once, as they
 * are then (the newest state wins), and the loop sends one LOCKOUT per
 * principal.  Flushes are at least `window_ms` apart, so each principal is
 * sent at most once per window whatever the request rate; an isolated
 * report after a quiet window goes out at once.
 *
 * Memory is bounded: at most `max` names are pending (and at most
 * REPL_COALESCE_NAME_MAX bytes each); a name that does not fit is counted
 * as overflow and dropped (its principal's next write is sent).
 *
 * Ownership: a repl_coalesce_t is the caller's (init .. deinit); names are
 * copied in; a taken set (repl_coalesce_set_t) is the taker's until
 * repl_coalesce_set_free.  No clock is read: callers pass the time.  One
 * thread (the loop); a taken set may move to the worker and back.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define REPL_COALESCE_WINDOW_MS 150u
#define REPL_COALESCE_MAX	65536u /* pending principals */
#define REPL_COALESCE_NAME_MAX	65535u /* bytes (PROTO_LOCKOUT_NAME_MAX) */

/* A taken set: `n` NUL-terminated names. */
typedef struct repl_coalesce_set {
	ks_buf_t arena;
	size_t *off; /* arena offset of each name */
	size_t n;
} repl_coalesce_set_t;

typedef struct repl_coalesce {
	repl_coalesce_set_t cur; /* pending, in arrival order */
	uint32_t *slot;		 /* hash table: index + 1 into cur, 0 free */
	size_t nslot;		 /* power of two, > 2 * pending */
	size_t cap;		 /* room in cur.off */
	size_t max;
	uint32_t window_ms;
	uint64_t last_flush_ms; /* 0: never flushed */
	bool flushed;
	/* cumulative counters (status) */
	uint64_t added;	    /* names taken as new pending entries */
	uint64_t coalesced; /* reports for a name already pending */
	uint64_t overflow;  /* names dropped: the set was full */
} repl_coalesce_t;

/** \brief Empty coalescer: at most \p max pending names, flushes at least
 *         \p window_ms apart (0: the defaults above). */
void repl_coalesce_init(repl_coalesce_t *c, size_t max, uint32_t window_ms);

void repl_coalesce_deinit(repl_coalesce_t *c);

/**
 * \brief One report for principal \p name (\p len bytes, no NUL).
 * \retval KS_EOK a new pending name, or one already pending (counted as
 *         coalesced)
 * \retval KS_ELIMIT the set is full or the name too long (counted as
 *         overflow); nothing kept
 * \retval KS_EINVAL empty name or a NUL in it
 * \retval KS_ENOMEM nothing kept
 */
int repl_coalesce_add(repl_coalesce_t *c, const char *name, size_t len);

/** \brief Names pending. */
size_t repl_coalesce_pending(const repl_coalesce_t *c);

/**
 * \brief Milliseconds until a flush may run (0: now), or UINT64_MAX when
 *        nothing is pending.
 */
uint64_t repl_coalesce_due_in(const repl_coalesce_t *c, uint64_t now_ms);

/**
 * \brief Take every pending name into \p out (which must be empty or freed)
 *        and start a window at \p now_ms.  The coalescer is empty after.
 */
void repl_coalesce_take(repl_coalesce_t *c, uint64_t now_ms,
			repl_coalesce_set_t *out);

/** \brief Name \p i of a taken set. */
const char *repl_coalesce_name(const repl_coalesce_set_t *s, size_t i);

void repl_coalesce_set_free(repl_coalesce_set_t *s);
