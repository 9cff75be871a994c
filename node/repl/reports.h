/* SPDX-License-Identifier: MIT */
/*
 * What the primary does with the KDB module's capture reports
 * (bridge/report.h), as pure code: messages in, a capture plan out.
 *
 * The loop reads every pending message of every module connection into one
 * repl_reports_t (repl_reports_add), then asks for the plan
 * (repl_reports_plan): the principals and policies to re-read, each once,
 * and whether a full scan is needed instead.
 *
 *   princ_put, princ_del, mkey   re-read the principal
 *   lockout                      re-read the principal if replicate_lockout
 *                                (else the record carries no lockout
 *                                fields: nothing to do)
 *   policy_put, policy_del       re-read the policy
 *   load, lost, dropped > 0      a full scan (which covers every name)
 * A malformed message is counted and ignored: a module of another version
 * on the same socket costs a scan at worst, never a crash.
 *
 * Ownership: a repl_reports_t is the caller's (init .. deinit); names are
 * copied in.  The loop fills it; the capture job it then moves into plans
 * it on the worker (repl_reports_plan sorts every name: a large burst,
 * such as a kdb5_util load -update, would otherwise hold the loop), so
 * one thread at a time, handed over through the job queue.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/bridge.h"
#include "bridge/report.h"
#include "common/buf.h"

/* Cumulative counters, for status (never reset). */
typedef struct repl_report_stats {
	uint64_t by_kind[KS_REPORT_KIND_COUNT]; /* index: enum ks_report_kind */
	uint64_t messages;			/* well-formed reports */
	uint64_t malformed;			/* refused by the decoder */
	uint64_t dropped;	  /* the modules' own count of lost reports */
	uint64_t lockout_ignored; /* lockout reports, replicate_lockout off */
} repl_report_stats_t;

typedef struct repl_reports {
	ks_buf_t arena; /* the names, NUL-terminated */
	size_t *off;	/* arena offset of each ref's name */
	uint8_t *type;	/* STORE_KEY_PRINCIPAL / STORE_KEY_POLICY */
	size_t n, cap;
	bool scan;	      /* a full scan is needed */
	const char *scan_why; /* static text: "report:load", "report:lost",
				 "report:dropped" */
	bridge_ref_t *plan;   /* filled by repl_reports_plan */
} repl_reports_t;

void repl_reports_init(repl_reports_t *rs);
void repl_reports_deinit(repl_reports_t *rs);

/**
 * \brief Take one message as received.
 * \param st counters updated (malformed ones too).
 * \retval KS_EOK taken (or counted as malformed and ignored)
 * \retval KS_ENOMEM nothing taken; the caller should scan
 */
int repl_reports_add(repl_reports_t *rs, const uint8_t *msg, size_t len,
		     bool replicate_lockout, repl_report_stats_t *st);

/**
 * \brief The objects to re-read, each once (sorted by type and name; the
 *        bridge orders them by dependency), in \p *refs (valid until the
 *        next add or deinit).  Empty when rs->scan (the scan covers all).
 */
int repl_reports_plan(repl_reports_t *rs, const bridge_ref_t **refs, size_t *n);
