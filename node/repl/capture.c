/* SPDX-License-Identifier: MIT */
/*
 * The primary's capture of KDB changes into the store's log: the targeted
 * re-reads of what the KDB module (bridge/kdbmod) reports on
 * STATE_DIR/capture.sock, and full scans (at start, on `kdcsync
 * snapshot`, when a report asks for one, and as a periodic audit that is
 * skipped while the KDB files are unchanged).
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <inttypes.h>
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

#define CAPTURE_MAX_PER_WAKE 10000u /* reports per connection per wake-up */

/* --- scans --------------------------------------------------------------- */

int node_repl__scan(node_repl_t *r, const char *reason, bridge_scan_stats_t *st)
{
	/* The stamp is taken before: a write during the scan changes it. */
	bridge_kdb_stamp_t stamp;
	bool have_stamp = bridge_kdb_stamp(r->bridge, &stamp) == KS_EOK;
	uint64_t t0 = ks_mono_ns();
	int ret = bridge_scan(r->bridge, r->store, st);

	r->last_scan_us = (ks_mono_ns() - t0) / 1000;
	r->last_scan_ms = uv_now(r->loop);
	snprintf(r->last_scan_reason, sizeof(r->last_scan_reason), "%s",
		 reason);
	if (ret != KS_EOK) {
		ks_log_err(KDB, "scan of the KDB failed (%s)",
			   ks_strerror(ret));
		return ret;
	}
	r->scans++;
	r->scan_changes += st->puts + st->dels;
	r->scan_skipped_names = st->skipped;
	r->scan_due = false;
	r->scan_stamp = stamp;
	r->have_scan_stamp = have_stamp;
	ks_hist_observe(&r->scan_hist, r->last_scan_us);
	node_repl__trim(r);
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
	node_repl__all_log_grew(r);
	return KS_EOK;
}

/*
 * The periodic audit: every write reaches the node through the KDB module,
 * so the scan is a safety net (a program not using the module, a report
 * lost while the node was busy).  It is skipped when no process can have
 * written the KDB since the last scan (the KDB files' stamp is unchanged)
 * and no capture failed since.
 */
static void on_scan(uv_timer_t *t)
{
	node_repl_t *r = t->data;
	bridge_scan_stats_t st;
	bridge_kdb_stamp_t now;

	if (!r->scan_due && r->have_scan_stamp &&
	    bridge_kdb_stamp(r->bridge, &now) == KS_EOK &&
	    bridge_kdb_stamp_eq(&now, &r->scan_stamp)) {
		r->scans_skipped++;
		ks_log_debug(KDB, "audit scan skipped: KDB files unchanged");
		return;
	}
	(void)node_repl__scan(r, r->scan_due ? "audit:capture-failed" : "audit",
			      &st);
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
	bool closing;
} cap_client_t;

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

/* Read every pending report of one client into \p rs. */
static void client_drain(cap_client_t *c, repl_reports_t *rs)
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
		if (repl_reports_add(rs, msg, (size_t)n, r->replicate_lockout,
				     &r->reports) != KS_EOK)
			rs->scan = true; /* out of memory: scan instead */
		if (r->reports.malformed != bad)
			ks_log_warn(KDB,
				    "capture: ignoring a malformed report "
				    "(%zd bytes; %" PRIu64 " so far)",
				    n, r->reports.malformed);
	}
}

/* Capture one plan: one commit in dependency order; if it fails, each
 * object alone so that one bad name does not hold back the others. */
static void capture_refs(node_repl_t *r, const bridge_ref_t *refs, size_t n)
{
	uint64_t first = 0, last = 0;
	int ret = bridge_capture(r->bridge, r->store, refs, n, &first, &last);

	if (ret == KS_EOK) {
		if (last >= first && last != 0) {
			r->cap_changes += last - first + 1;
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
		return;
	}
	ks_log_warn(KDB, "capture of %zu objects failed (%s); one by one", n,
		    ks_strerror(ret));
	for (size_t i = 0; i < n; i++) {
		ret = bridge_capture(r->bridge, r->store, &refs[i], 1, &first,
				     &last);
		if (ret != KS_EOK) {
			r->cap_failed++;
			ks_log_warn(KDB,
				    "capture: cannot capture %s '%s' (%s); "
				    "the next scan will",
				    refs[i].type == STORE_KEY_POLICY
					    ? "policy"
					    : "principal",
				    refs[i].name, ks_strerror(ret));
			r->scan_due = true;
		} else if (last >= first && last != 0) {
			r->cap_changes += last - first + 1;
		}
	}
}

static void capture_now(node_repl_t *r, repl_reports_t *rs)
{
	const bridge_ref_t *refs = NULL;
	size_t n = 0;

	if (rs->scan) {
		bridge_scan_stats_t st;
		const char *why =
			rs->scan_why ? rs->scan_why : "report:out-of-memory";
		ks_log_info(KDB,
			    "capture: a module report asks for a scan (%s)",
			    why);
		(void)node_repl__scan(r, why, &st);
		return;
	}
	if (repl_reports_plan(rs, &refs, &n) != KS_EOK) {
		r->scan_due = true;
		return;
	}
	if (n > 0)
		capture_refs(r, refs, n);
	node_repl__all_log_grew(r);
}

static void on_cap_client(uv_poll_t *h, int status, int events)
{
	cap_client_t *c = h->data;
	node_repl_t *r = c->r;
	repl_reports_t rs;

	(void)events;
	if (status < 0) {
		client_close(c);
		return;
	}
	/* everything pending on every client, then one capture */
	repl_reports_init(&rs);
	for (cap_client_t *o = r->cap_clients, *next; o != NULL; o = next) {
		next = o->next;
		client_drain(o, &rs);
	}
	capture_now(r, &rs);
	repl_reports_deinit(&rs);
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

int node_repl__capture_start(node_repl_t *r)
{
	bridge_scan_stats_t st;
	/* Listen first: a write made during the start-up scan is reported
	 * (and captured after it) rather than missed. */
	int ret = cap_open(r);

	if (ret == KS_EOK)
		ret = node_repl__scan(r, "start", &st);
	if (ret != KS_EOK)
		return ret;
	uv_timer_start(&r->scan, on_scan, r->scan_interval_ms,
		       r->scan_interval_ms);
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
	if (r->cap_fd >= 0) {
		r->closing++;
		uv_close((uv_handle_t *)&r->cap_poll, node_repl__closed_uv);
	}
	while (r->cap_clients != NULL)
		client_close(r->cap_clients);
}

void node_repl__capture_free(node_repl_t *r)
{
	if (r->cap_fd >= 0) {
		close(r->cap_fd);
		if (r->cap_path[0])
			unlink(r->cap_path);
	}
}
