/* SPDX-License-Identifier: MIT */
/*
 * Log-line rate limiting, as a pure table the logger consults (log.c holds
 * one behind a mutex).  A line is keyed by its call site (the format string's
 * address) and, for ordinary lines, by a hash of its text: at most `burst`
 * lines of one key go out per `interval_ms`; the rest are counted, and when
 * the key's window has ended the next check hands back one summary ("last
 * message repeated K times") before anything else of that key is written.
 * Site-wide keys (hash 0, see ks_log_limited) bound a call site whose text
 * varies per event, such as one line per refused connection.
 *
 * Nothing here does I/O or reads a clock: callers pass the time, so the
 * decisions are unit-tested directly.  Not thread-safe: one owner, or a lock.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_LOG_LIMIT_SLOTS 64
#define KS_LOG_LIMIT_TEXT  160

typedef struct ks_log_limit_slot {
	const void *site;    /* NULL: free */
	uint64_t hash;	     /* 0 for a site-wide key */
	uint64_t start_ms;   /* start of the current window */
	uint64_t used_ms;    /* last time the key was seen (for reuse) */
	unsigned tag;	     /* caller's (log.c: group and level) */
	unsigned count;	     /* lines written in the window */
	uint64_t suppressed; /* lines dropped in the window */
	char last[KS_LOG_LIMIT_TEXT]; /* text of the last dropped line */
} ks_log_limit_slot_t;

typedef struct ks_log_limit {
	unsigned burst;	      /* 0: no limit */
	uint64_t interval_ms; /* window length */
	ks_log_limit_slot_t slot[KS_LOG_LIMIT_SLOTS];
} ks_log_limit_t;

/* A summary to write: "last message repeated \p count times". */
typedef struct ks_log_limit_summary {
	uint64_t count;
	uint64_t seconds; /* length of the window it covers, rounded up */
	unsigned tag;	  /* the key's tag */
	char text[KS_LOG_LIMIT_TEXT];
} ks_log_limit_summary_t;

/** \brief Empty table; \p burst lines per key per \p interval_ms. */
void ks_log_limit_init(ks_log_limit_t *l, unsigned burst, uint64_t interval_ms);

/** \brief FNV-1a of \p text, never 0 (0 marks a site-wide key). */
uint64_t ks_log_limit_hash(const char *text);

/**
 * \brief Decide about one line.
 * \param hash  ks_log_limit_hash(text), or 0 for a site-wide key.
 * \param tag   kept with the key and handed back in its summaries.
 * \param text  the line's text (the last dropped one is kept for the summary).
 * \param sum   receives a summary to write *before* the line (count 0: none);
 *              it belongs to this key's ended window, or to another key
 *              whose slot was taken over.
 * \return true to write the line, false to drop it (counted).
 */
bool ks_log_limit_check(ks_log_limit_t *l, const void *site, uint64_t hash,
			unsigned tag, const char *text, uint64_t now_ms,
			ks_log_limit_summary_t *sum);

/**
 * \brief Hand back, one per call, the summary of a key whose window ended
 *        with lines dropped (so a burst that stops is still reported).
 * \return true when \p sum was filled; call again until false.
 */
bool ks_log_limit_sweep(ks_log_limit_t *l, uint64_t now_ms,
			ks_log_limit_summary_t *sum);
