/* SPDX-License-Identifier: MIT */
/*
 * The primary's capture of KDB changes into the store's log: the targeted
 * re-reads of what the KDB module (bridge/kdbmod) reports on
 * STATE_DIR/capture.sock, and full scans (at start, on `kdcsync
 * snapshot`, when a report asks for one, and as a periodic audit that is
 * skipped while the KDB files are unchanged).  On a replica with
 * replicate_lockout the same socket takes the KDC's LOCKOUT reports only
 * (node/repl/lockout.c).
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/time.h"
#include "node/repl/repl_int.h"
#include "node/repl/reports.h"

#define CAPTURE_MAX_PER_WAKE                                                   \
	2000u /* reports per connection per wake-up:
					bounds the loop's time per wake */

/* --- scans --------------------------------------------------------------- */

#define SCAN_WAITERS 8

/*
 * A scan on the worker.  The loop keeps the figures (scans, stamp, reason)
 * and reads nothing the job writes until its done callback.
 */
typedef struct scan_job {
	node_repl_job_t job;
	node_repl_t *r;
	const char *reason; /* static text */
	bool audit;	    /* skip when the KDB files are unchanged */
	bool check_stamp;   /* audit: compare with last (copied below) */
	bridge_kdb_stamp_t last, stamp;
	bool have_stamp, skipped, started;
	bridge_scan_stats_t st;
	uint64_t took_us;
	/* `kdcsync snapshot` requests answered by this scan (loop only) */
	node_ctl_wait_t *wait[SCAN_WAITERS];
	unsigned n_wait;
} scan_job_t;

/* Give the chunks' freed heap back to the system: glibc keeps it in the
 * arena otherwise, and a first scan of a large KDB would leave it there. */
static void scan_trim(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static int scan_run(node_repl_job_t *job)
{
	scan_job_t *j = (scan_job_t *)job;
	node_repl_t *r = j->r;
	uint64_t t0;

	__atomic_store_n(&j->started, true, __ATOMIC_RELEASE);
	/* The stamp is taken before: a write during the scan changes it. */
	j->have_stamp = bridge_kdb_stamp(r->bridge, &j->stamp) == KS_EOK;
	if (j->audit && j->check_stamp && j->have_stamp &&
	    bridge_kdb_stamp_eq(&j->stamp, &j->last)) {
		j->skipped = true;
		return KS_EOK;
	}
	__atomic_store_n(&r->scan_active, 1, __ATOMIC_RELAXED);
	t0 = ks_mono_ns();
	int ret = bridge_scan(r->bridge, r->store, &j->st);
	j->took_us = (ks_mono_ns() - t0) / 1000;
	__atomic_store_n(&r->scan_active, 0, __ATOMIC_RELAXED);
	scan_trim();
	return ret;
}

/* The figures of a scan that ran (loop). */
static void scan_account(node_repl_t *r, const char *reason,
			 const bridge_scan_stats_t *st, uint64_t took_us,
			 bool have_stamp, const bridge_kdb_stamp_t *stamp)
{
	r->last_scan_us = took_us;
	r->last_scan_ms = node_repl__now(r);
	snprintf(r->last_scan_reason, sizeof(r->last_scan_reason), "%s",
		 reason);
	r->scans++;
	r->scan_changes += st->puts + st->dels;
	r->scan_skipped_names = st->skipped;
	r->scan_due = false;
	r->scan_stamp = *stamp;
	r->have_scan_stamp = have_stamp;
	ks_hist_observe(&r->scan_hist, r->last_scan_us);
	if (st->puts || st->dels)
		ks_log_notice(KDB,
			      "scan (%s): %" PRIu64 " principals, %" PRIu64
			      " policies; logged %" PRIu64 " puts, %" PRIu64
			      " deletes (seq %" PRIu64 "..%" PRIu64
			      ") in %" PRIu64 " ms",
			      reason, st->principals, st->policies, st->puts,
			      st->dels, st->first_seq, st->last_seq,
			      r->last_scan_us / 1000);
	else
		ks_log_debug(KDB,
			     "scan (%s): no change (%" PRIu64 " principals)",
			     reason, st->principals);
}

/* The first successful scan since start: replicas may be served now. */
static void scan_ready(node_repl_t *r)
{
	r->ready = true;
	r->startup_error[0] = '\0';
	r->startup_retry_at = 0;
	ks_log_notice(KDB,
		      "start-up scan done %" PRIu64
		      " ms after start: serving replicas",
		      node_repl__now(r) - r->start_ms);
	node_repl__links_ready(r);
}

static void scan_done(node_repl_job_t *job, int ret)
{
	scan_job_t *j = (scan_job_t *)job;
	node_repl_t *r = j->r;
	ks_buf_t out = KS_BUF_INIT;

	r->scans_pending--;
	if (r->scan_queued == j)
		r->scan_queued = NULL;
	if (ret == KS_EOK && j->skipped) {
		r->scans_skipped++;
		ks_log_debug(KDB, "audit scan skipped: KDB files unchanged");
	} else if (ret == KS_EOK) {
		scan_account(r, j->reason, &j->st, j->took_us, j->have_stamp,
			     &j->stamp);
		if (!r->ready)
			scan_ready(r);
		/* after the held links started: the trim honours them */
		node_repl__trim(r);
		node_repl__all_log_grew(r);
		ret = ks_buf_appendf(&out,
				     "scanned %" PRIu64
				     " principals and %" PRIu64
				     " policies: %" PRIu64 " puts, %" PRIu64
				     " deletes logged\n",
				     j->st.principals, j->st.policies,
				     j->st.puts, j->st.dels);
	} else if (ret != KS_ECANCELED) {
		snprintf(r->last_scan_reason, sizeof(r->last_scan_reason), "%s",
			 j->reason);
		if (r->ready)
			ks_log_err(KDB, "scan of the KDB failed (%s)",
				   ks_strerror(ret));
		else
			node_repl__startup_failed(r, ret); /* retried soon */
	}
	for (unsigned i = 0; i < j->n_wait; i++)
		node_ctl_answer(j->wait[i], ret, ks_buf_view(&out));
	ks_buf_free(&out);
	free(j);
}

void node_repl__scan(node_repl_t *r, const char *reason, bool audit,
		     node_ctl_wait_t *w)
{
	scan_job_t *j = r->scan_queued;

	if (audit && r->scans_pending > 0)
		return; /* an audit is a safety net: the pending scan will do */
	/* a scan that has not started yet sees every change made before
	 * this request: it answers for this one too */
	if (j != NULL && !j->audit && (w == NULL || j->n_wait < SCAN_WAITERS) &&
	    !__atomic_load_n(&j->started, __ATOMIC_ACQUIRE)) {
		if (w != NULL)
			j->wait[j->n_wait++] = w;
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		node_ctl_answer(w, KS_ENOMEM, (ks_view_t){ 0 });
		return;
	}
	*j = (scan_job_t){ .job = { .run = scan_run, .done = scan_done },
			   .r = r,
			   .reason = reason,
			   .audit = audit,
			   .check_stamp =
				   audit && !r->scan_due && r->have_scan_stamp,
			   .last = r->scan_stamp };
	if (w != NULL)
		j->wait[j->n_wait++] = w;
	if (!node_repl__job(r, &j->job)) {
		node_ctl_answer(w, KS_ECANCELED, (ks_view_t){ 0 });
		free(j);
		return;
	}
	r->scans_pending++;
	r->scan_queued = j;
}

/*
 * The periodic audit: every write reaches the node through the KDB module,
 * so the scan is a safety net (a program not using the module, a report
 * lost while the node was busy).  It is skipped when no process can have
 * written the KDB since the last scan (the KDB files' stamp, taken on the
 * worker, is unchanged) and no capture failed since.
 */
static void on_scan(uv_timer_t *t)
{
	node_repl_t *r = t->data;

	node_repl__scan(r, r->scan_due ? "audit:capture-failed" : "audit", true,
			NULL);
}

/*
 * The capture socket: a Unix SOCK_SEQPACKET listener (libuv has no
 * seqpacket, so raw sockets under uv_poll) on STATE_DIR/capture.sock; the
 * KDB module in each MIT program (krb5kdc, kadmind, kadmin.local,
 * kdb5_util) connects and sends one report per message (bridge/report.h).
 * Everything pending on every connection at a wake-up becomes one plan
 * (node/repl/reports.h): one store commit, or one full scan.
 *
 * No echo: the node's own bridge opens the KDB with the module's quiet
 * argument, so its writes are never reported here.
 */
typedef struct cap_client {
	struct cap_client *next;
	node_repl_t *r;
	uv_poll_t poll;
	int fd;
	uint64_t conn; /* its id for answers (synchronous mode) */
	bool closing;
} cap_client_t;

/*
 * Synchronous mode: the requests (reports with KS_REPORT_F_REPLY) read
 * with the reports of a capture.  They are answered after the capture job
 * that takes those reports (jobs run in order, so after every change
 * reported before them), at the log's last seq then (syncmode.c).
 */
typedef repl_cap_req_t cap_req_t;
typedef repl_cap_reqs_t cap_reqs_t;

void node_repl__cap_answer(node_repl_t *r, uint64_t conn, uint64_t id)
{
	uint8_t msg[KS_REPORT_HDR_LEN];
	ks_report_t a = { .kind = KS_REPORT_ANSWER, .id = id };
	size_t n = 0;

	for (cap_client_t *c = r->cap_clients; c != NULL; c = c->next) {
		if (c->conn != conn || c->closing)
			continue;
		/* a full socket (the module stopped reading) only costs that
		 * module its wait: it gives up at its own deadline */
		if (ks_report_encode(&a, msg, sizeof(msg), &n) == KS_EOK)
			(void)send(c->fd, msg, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		return;
	}
}

/* Keep a request, or answer it now when nothing waits for replicas.  A
 * master key change (\p captured) is always kept: its module waits until
 * the capture job has logged that K/M state (bridge/kdbmod/send.c), so a
 * fast kdb5_util chain cannot get past a state before the node read it,
 * and each K/M version a replica needs to follow the rollover is its own
 * log entry, shipped in order. */
static void req_add(node_repl_t *r, cap_reqs_t *q, uint64_t conn, uint64_t id,
		    bool captured)
{
	if (!captured && node_repl__sync_now(r)) {
		node_repl__cap_answer(r, conn, id);
		return;
	}
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 8;
		cap_req_t *v = realloc(q->v, cap * sizeof(*v));
		if (v == NULL) {
			node_repl__cap_answer(r, conn, id);
			return;
		}
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n++] = (cap_req_t){ .conn = conn, .id = id };
}

static void reqs_answer_all(node_repl_t *r, cap_reqs_t *q)
{
	for (size_t i = 0; i < q->n; i++)
		node_repl__cap_answer(r, q->v[i].conn, q->v[i].id);
	q->n = 0;
}

static void on_client_closed(uv_handle_t *h)
{
	cap_client_t *c = h->data;
	node_repl_t *r = c->r;

	close(c->fd);
	free(c);
	node_repl__closed_one(r);
}

static void client_close(cap_client_t *c)
{
	node_repl_t *r = c->r;

	if (c->closing)
		return;
	c->closing = true;
	for (cap_client_t **pp = &r->cap_clients; *pp != NULL;
	     pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	r->closing++;
	uv_poll_stop(&c->poll);
	uv_close((uv_handle_t *)&c->poll, on_client_closed);
}

/* Read every pending report of one client into \p rs (its requests into
 * \p q). */
static void client_drain(cap_client_t *c, repl_reports_t *rs, cap_reqs_t *q)
{
	static uint8_t msg[KS_REPORT_MAX_LEN + 1];
	node_repl_t *r = c->r;

	for (unsigned i = 0; i < CAPTURE_MAX_PER_WAKE; i++) {
		ssize_t n = recv(c->fd, msg, sizeof(msg), MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				client_close(c);
			return;
		}
		if (n == 0) { /* the MIT program is done */
			client_close(c);
			return;
		}
		uint64_t bad = r->reports.malformed;
		ks_report_t rep;
		bool decoded = ks_report_decode(msg, (size_t)n, &rep) == KS_EOK;
		if (r->role != REPL_ROLE_PRIMARY ||
		    (decoded && rep.kind == KS_REPORT_LOCKOUT &&
		     r->replicate_lockout && rep.dropped == 0)) {
			/* the KDC's lockout writes are coalesced (lockout.c);
			 * a replica takes nothing else and never makes a
			 * module wait */
			if (!decoded) {
				r->reports.malformed++;
				continue;
			}
			r->reports.messages++;
			r->reports.by_kind[rep.kind]++;
			node_repl__lockout_report(r, &rep);
			if (rep.flags & KS_REPORT_F_REPLY)
				node_repl__cap_answer(r, c->conn, rep.id);
			continue;
		}
		if (repl_reports_add(rs, msg, (size_t)n, r->replicate_lockout,
				     &r->reports) != KS_EOK)
			rs->scan = true; /* out of memory: scan instead */
		if (decoded && (rep.flags & KS_REPORT_F_REPLY))
			req_add(r, q, c->conn, rep.id,
				rep.kind == KS_REPORT_MKEY);
		if (r->reports.malformed != bad)
			ks_log_warn(KDB,
				    "capture: ignoring a malformed report "
				    "(%zd bytes; %" PRIu64 " so far)",
				    n, r->reports.malformed);
	}
}

/* The reports captured on the worker: planned there (each name once, in
 * dependency order), one commit; if it fails, each object alone so that
 * one bad name does not hold back the others.  The reports (names, plan)
 * move into the job. */
typedef struct capture_job {
	node_repl_job_t job;
	node_repl_t *r;
	repl_reports_t rs;
	bool objects;	  /* rs names objects to capture (else requests only) */
	bool plan_failed; /* out of memory planning: a scan instead */
	const bridge_ref_t *refs;
	size_t n;
	uint64_t changes, failed;
	cap_reqs_t reqs;   /* answered at last_seq once done */
	uint64_t last_seq; /* the log's end after this capture */
} capture_job_t;

/* The log's end, for the requests answered after this job (worker). */
static int capture_end(capture_job_t *j)
{
	store_meta_t m;

	if (j->reqs.n > 0 && node_repl__meta(j->r->store, &m) == KS_EOK)
		j->last_seq = m.last_seq;
	return KS_EOK;
}

static int capture_run(node_repl_job_t *job)
{
	capture_job_t *j = (capture_job_t *)job;
	node_repl_t *r = j->r;
	uint64_t first = 0, last = 0;
	int ret;

	if (j->objects &&
	    repl_reports_plan(&j->rs, &j->refs, &j->n) != KS_EOK) {
		j->plan_failed = true;
		j->n = 0;
	}
	const bridge_ref_t *refs = j->refs;
	size_t n = j->n;
	if (n == 0) /* only requests: the changes were scanned before */
		return capture_end(j);
	ret = bridge_capture(r->bridge, r->store, refs, n, &first, &last);
	if (ret == KS_EOK) {
		if (last >= first && last != 0) {
			j->changes += last - first + 1;
			if (n == 1)
				ks_log_info(KDB,
					    "capture: '%s' logged as seq "
					    "%" PRIu64,
					    refs[0].name, last);
			else
				ks_log_info(KDB,
					    "capture: %zu objects, seq "
					    "%" PRIu64 "..%" PRIu64,
					    n, first, last);
		}
		return capture_end(j);
	}
	ks_log_warn(KDB, "capture of %zu objects failed (%s); one by one", n,
		    ks_strerror(ret));
	for (size_t i = 0; i < n; i++) {
		ret = bridge_capture(r->bridge, r->store, &refs[i], 1, &first,
				     &last);
		if (ret != KS_EOK) {
			j->failed++;
			ks_log_warn(KDB,
				    "capture: cannot capture %s '%s' (%s); "
				    "the next scan will",
				    refs[i].type == STORE_KEY_POLICY
					    ? "policy"
					    : "principal",
				    refs[i].name, ks_strerror(ret));
		} else if (last >= first && last != 0) {
			j->changes += last - first + 1;
		}
	}
	return capture_end(j);
}

static void capture_now(node_repl_t *r);

static void capture_done(node_repl_job_t *job, int ret)
{
	capture_job_t *j = (capture_job_t *)job;
	node_repl_t *r = j->r;

	if (ret == KS_EOK) {
		r->cap_changes += j->changes;
		r->cap_failed += j->failed;
		if (j->failed > 0 || j->plan_failed)
			r->scan_due = true;
		node_repl__all_log_grew(r);
	}
	for (size_t i = 0; i < j->reqs.n; i++)
		if (ret == KS_EOK && j->last_seq > 0)
			node_repl__sync_wait(r, j->last_seq, j->reqs.v[i].conn,
					     j->reqs.v[i].id);
		else
			node_repl__cap_answer(r, j->reqs.v[i].conn,
					      j->reqs.v[i].id);
	free(j->reqs.v);
	repl_reports_deinit(&j->rs);
	free(j);
	/* what came meanwhile: one job for all of it */
	r->cap_busy = false;
	if (ret != KS_ECANCELED && !r->stopping)
		capture_now(r);
}

/* Empty the reports waiting (their plan was taken or given up). */
static void reports_reset(repl_reports_t *rs)
{
	repl_reports_deinit(rs);
	repl_reports_init(rs);
}

/*
 * The reports and requests waiting (r->cap_rs, r->cap_reqs) become one
 * capture job.  One job at a time: reports that arrive while it is queued
 * or running wait for the next, so a burst (a kdb5_util load, a script of
 * kadmin writes) becomes a few large commits rather than one per report.
 */
static void capture_now(node_repl_t *r)
{
	repl_reports_t *rs = &r->cap_rs;
	cap_reqs_t *q = &r->cap_reqs;
	capture_job_t *j;

	if (r->cap_busy || (rs->n == 0 && !rs->scan && q->n == 0))
		return;

	bool objects = !rs->scan && rs->n > 0; /* planned on the worker */
	if (rs->scan) {
		const char *why =
			rs->scan_why ? rs->scan_why : "report:out-of-memory";
		ks_log_info(KDB,
			    "capture: a module report asks for a scan (%s)",
			    why);
		node_repl__scan(r, why, false, NULL);
		/* requests: a job with no object, after the scan */
	}
	if (!objects && q->n == 0) {
		reports_reset(rs);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		r->scan_due = r->scan_due || objects;
		reqs_answer_all(r, q);
		reports_reset(rs);
		return;
	}
	/* the plan and its names live in rs's heap blocks: move rs, and the
	 * requests */
	*j = (capture_job_t){ .job = { .run = capture_run,
				       .done = capture_done },
			      .r = r,
			      .rs = *rs,
			      .objects = objects,
			      .reqs = *q };
	repl_reports_init(rs);
	*q = (cap_reqs_t){ 0 };
	if (!node_repl__job(r, &j->job)) {
		reqs_answer_all(r, &j->reqs);
		free(j->reqs.v);
		repl_reports_deinit(&j->rs);
		free(j);
		return;
	}
	r->cap_busy = true;
}

static void on_cap_client(uv_poll_t *h, int status, int events)
{
	cap_client_t *c = h->data;
	node_repl_t *r = c->r;

	(void)events;
	if (status < 0) {
		client_close(c);
		return;
	}
	/* everything pending on every client, then one capture (or with the
	 * next, when one is queued or running) */
	for (cap_client_t *o = r->cap_clients, *next; o != NULL; o = next) {
		next = o->next;
		client_drain(o, &r->cap_rs, &r->cap_reqs);
	}
	node_repl__lockout_kick(r);
	capture_now(r);
}

static void on_cap_listen(uv_poll_t *h, int status, int events)
{
	node_repl_t *r = h->data;

	(void)events;
	if (status < 0 || r->stopping)
		return;
	for (;;) {
		int fd = accept4(r->cap_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		cap_client_t *c;
		if (fd < 0)
			return; /* EAGAIN: no more */
		c = calloc(1, sizeof(*c));
		if (c == NULL || uv_poll_init(r->loop, &c->poll, fd) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->r = r;
		c->fd = fd;
		c->conn = ++r->cap_next_conn;
		c->poll.data = c;
		c->next = r->cap_clients;
		r->cap_clients = c;
		uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT,
			      on_cap_client);
	}
}

static int cap_open(node_repl_t *r)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, ret;

	snprintf(r->cap_path, sizeof(r->cap_path), "%s/%s", r->state_dir,
		 NODE_REPL_CAPTURE_SOCKET);
	if (strlen(r->cap_path) >= sizeof(a.sun_path)) {
		ks_log_err(REPL,
			   "capture socket path '%s' is too long; shorten "
			   "[node] state_dir",
			   r->cap_path);
		return KS_ENAMETOOLONG;
	}
	memcpy(a.sun_path, r->cap_path, strlen(r->cap_path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ks_errno(errno);
	(void)unlink(r->cap_path); /* our pid lock says no one else uses it */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 128) != 0) {
		ret = ks_errno(errno);
		ks_log_err(REPL,
			   "cannot listen on the capture socket '%s' (%s)",
			   r->cap_path, strerror(errno));
		close(fd);
		return ret;
	}
	/* MIT programs run as root; the node may not: the owner and root. */
	(void)chmod(r->cap_path, 0600);
	r->cap_fd = fd;
	uv_poll_init(r->loop, &r->cap_poll, fd);
	r->cap_poll.data = r;
	uv_poll_start(&r->cap_poll, UV_READABLE, on_cap_listen);
	return KS_EOK;
}

/* --- lifecycle ------------------------------------------------------------ */

int node_repl__capture_listen(node_repl_t *r)
{
	return cap_open(r);
}

int node_repl__capture_start(node_repl_t *r)
{
	/* Listen first: a write made during the start-up scan is reported
	 * (and captured after it) rather than missed. */
	int ret = cap_open(r);

	if (ret != KS_EOK)
		return ret;
	/*
	 * The start-up scan is the worker's first job: the loop answers
	 * status meanwhile (it says "scanning", with a count), captures
	 * queue behind it, and replicas wait until it succeeded (r->ready).
	 * A failure keeps them waiting: the tick retries it after a
	 * back-off (node_repl__startup_failed), as does the audit timer.
	 */
	r->start_ms = node_repl__now(r);
	node_repl__scan(r, "start", false, NULL);
	uv_timer_start(&r->scan, on_scan, r->scan_interval_ms,
		       r->scan_interval_ms);
	node_repl__sync_start(r);
	return KS_EOK;
}

void node_repl__capture_reconfigure(node_repl_t *r, uint64_t interval_ms)
{
	r->scan_interval_ms = interval_ms;
	uv_timer_start(&r->scan, on_scan, r->scan_interval_ms,
		       r->scan_interval_ms);
}

void node_repl__capture_stop(node_repl_t *r)
{
	reqs_answer_all(r, &r->cap_reqs); /* requests not yet captured */
	node_repl__sync_stop(r); /* answers go out before the clients close */
	if (r->cap_fd >= 0) {
		r->closing++;
		uv_close((uv_handle_t *)&r->cap_poll, node_repl__closed_uv);
	}
	while (r->cap_clients != NULL)
		client_close(r->cap_clients);
}

void node_repl__capture_free(node_repl_t *r)
{
	repl_reports_deinit(&r->cap_rs);
	free(r->cap_reqs.v);
	if (r->cap_fd >= 0) {
		close(r->cap_fd);
		if (r->cap_path[0])
			unlink(r->cap_path);
	}
}
