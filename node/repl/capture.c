/* SPDX-License-Identifier: MIT */
/*
 * The primary's capture of KDB changes into the store's log: full scans
 * (at start, every [node] scan_interval, on `kdcsync snapshot`) and the
 * targeted re-reads of the principals the kadm5_hook plugin names on
 * STATE_DIR/hook.sock.
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

#define HOOK_MAX_DGRAM	  4096u
#define HOOK_MAX_PER_WAKE 10000u

/* --- scans --------------------------------------------------------------- */

int node_repl__scan(node_repl_t *r, bridge_scan_stats_t *st)
{
	uint64_t t0 = ks_mono_ns();
	int ret = bridge_scan(r->bridge, r->store, st);

	r->last_scan_us = (ks_mono_ns() - t0) / 1000;
	r->last_scan_ms = uv_now(r->loop);
	if (ret != KS_EOK) {
		ks_log_err(KDB, "scan of the KDB failed (%s)",
			   ks_strerror(ret));
		return ret;
	}
	r->scans++;
	node_repl__trim(r);
	if (st->puts || st->dels)
		ks_log_notice(KDB,
			      "scan: %" PRIu64 " principals, %" PRIu64
			      " policies; logged %" PRIu64 " puts, %" PRIu64
			      " deletes (seq %" PRIu64 "..%" PRIu64
			      ") in %" PRIu64 " ms",
			      st->principals, st->policies, st->puts, st->dels,
			      st->first_seq, st->last_seq,
			      r->last_scan_us / 1000);
	else
		ks_log_debug(KDB, "scan: no change (%" PRIu64 " principals)",
			     st->principals);
	node_repl__all_log_grew(r);
	return KS_EOK;
}

static void on_scan(uv_timer_t *t)
{
	node_repl_t *r = t->data;
	bridge_scan_stats_t st;

	(void)node_repl__scan(r, &st);
}

/*
 * The kadm5_hook socket: a Unix SOCK_SEQPACKET listener (libuv has no
 * seqpacket, so raw sockets under uv_poll); each kadmind / kadmin.local
 * connects and sends one principal name per message.  All names pending at
 * a wake-up are captured in one store commit.
 */
typedef struct hook_client {
	struct hook_client *next;
	node_repl_t *r;
	uv_poll_t poll;
	int fd;
	bool closing;
} hook_client_t;

typedef struct names {
	char **v;
	size_t n, cap;
} names_t;

static int names_add(names_t *ns, const char *s)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i], s) == 0)
			return KS_EOK; /* once per wake-up is enough */
	if (ns->n == ns->cap) {
		size_t nc = ns->cap ? ns->cap * 2 : 32;
		char **v = realloc(ns->v, nc * sizeof(*v));
		if (v == NULL)
			return KS_ENOMEM;
		ns->v = v;
		ns->cap = nc;
	}
	if ((ns->v[ns->n] = strdup(s)) == NULL)
		return KS_ENOMEM;
	ns->n++;
	return KS_EOK;
}

static void names_free(names_t *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static void on_client_closed(uv_handle_t *h)
{
	hook_client_t *c = h->data;
	node_repl_t *r = c->r;

	close(c->fd);
	free(c);
	node_repl__closed_one(r);
}

static void client_close(hook_client_t *c)
{
	node_repl_t *r = c->r;

	if (c->closing)
		return;
	c->closing = true;
	for (hook_client_t **pp = &r->hook_clients; *pp != NULL;
	     pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	r->closing++;
	uv_poll_stop(&c->poll);
	uv_close((uv_handle_t *)&c->poll, on_client_closed);
}

/* Read every pending name of one client into \p ns. */
static void client_drain(hook_client_t *c, names_t *ns)
{
	char name[HOOK_MAX_DGRAM + 1];

	for (unsigned i = 0; i < HOOK_MAX_PER_WAKE; i++) {
		ssize_t n = recv(c->fd, name, HOOK_MAX_DGRAM, MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				client_close(c);
			return;
		}
		if (n == 0) { /* the admin process is done */
			client_close(c);
			return;
		}
		if (memchr(name, '\0', (size_t)n) != NULL)
			continue; /* not a name: ignore */
		name[n] = '\0';
		c->r->hook_msgs++;
		if (names_add(ns, name) != KS_EOK)
			return;
	}
}

static void capture_names(node_repl_t *r, names_t *ns)
{
	uint64_t first = 0, last = 0;
	int ret;

	if (ns->n == 0)
		return;
	ret = bridge_capture_principals(r->bridge, r->store,
					(const char *const *)ns->v, ns->n,
					&first, &last);
	if (ret != KS_EOK) {
		/* one bad name must not hold back the others */
		ks_log_warn(KDB,
			    "hook: capture of %zu principals failed (%s); "
			    "capturing one by one",
			    ns->n, ks_strerror(ret));
		for (size_t i = 0; i < ns->n; i++) {
			uint64_t f = 0, l = 0;
			ret = bridge_capture_principal(r->bridge, r->store,
						       ns->v[i], &f, &l);
			if (ret != KS_EOK)
				ks_log_warn(KDB,
					    "hook: cannot capture '%s' (%s); "
					    "the next scan will",
					    ns->v[i], ks_strerror(ret));
			else if (l >= f && l != 0)
				r->hook_changes += l - f + 1;
		}
	} else if (last >= first && last != 0) {
		r->hook_changes += last - first + 1;
		if (ns->n == 1)
			ks_log_info(KDB, "hook: '%s' logged as seq %" PRIu64,
				    ns->v[0], last);
		else
			ks_log_info(
				KDB,
				"hook: %zu principals logged as seq %" PRIu64
				"..%" PRIu64,
				ns->n, first, last);
	}
	node_repl__all_log_grew(r);
}

static void on_hook_client(uv_poll_t *h, int status, int events)
{
	hook_client_t *c = h->data;
	node_repl_t *r = c->r;
	names_t ns = { 0 };

	(void)events;
	if (status < 0) {
		client_close(c);
		return;
	}
	/* everything pending on every client, then one commit */
	for (hook_client_t *o = r->hook_clients, *next; o != NULL; o = next) {
		next = o->next;
		client_drain(o, &ns);
	}
	capture_names(r, &ns);
	names_free(&ns);
}

static void on_hook(uv_poll_t *h, int status, int events)
{
	node_repl_t *r = h->data;

	(void)events;
	if (status < 0 || r->stopping)
		return;
	for (;;) {
		int fd = accept4(r->hook_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		hook_client_t *c;
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
		c->next = r->hook_clients;
		r->hook_clients = c;
		uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT,
			      on_hook_client);
	}
}

static int hook_open(node_repl_t *r)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, ret;

	snprintf(r->hook_path, sizeof(r->hook_path), "%s/%s", r->state_dir,
		 NODE_REPL_HOOK_SOCKET);
	if (strlen(r->hook_path) >= sizeof(a.sun_path)) {
		ks_log_err(REPL,
			   "hook socket path '%s' is too long; shorten "
			   "[node] state_dir",
			   r->hook_path);
		return KS_ENAMETOOLONG;
	}
	memcpy(a.sun_path, r->hook_path, strlen(r->hook_path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ks_errno(errno);
	(void)unlink(r->hook_path); /* our pid lock says no one else uses it */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 128) != 0) {
		ret = ks_errno(errno);
		ks_log_err(REPL, "cannot listen on the hook socket '%s' (%s)",
			   r->hook_path, strerror(errno));
		close(fd);
		return ret;
	}
	(void)chmod(r->hook_path, 0600);
	r->hook_fd = fd;
	uv_poll_init(r->loop, &r->hook, fd);
	r->hook.data = r;
	uv_poll_start(&r->hook, UV_READABLE, on_hook);
	return KS_EOK;
}

/* --- lifecycle ------------------------------------------------------------ */

int node_repl__capture_start(node_repl_t *r)
{
	bridge_scan_stats_t st;
	int ret = node_repl__scan(r, &st);

	if (ret != KS_EOK)
		return ret;
	uv_timer_start(&r->scan, on_scan, r->scan_interval_ms,
		       r->scan_interval_ms);
	return hook_open(r);
}

void node_repl__capture_reconfigure(node_repl_t *r, uint64_t interval_ms)
{
	r->scan_interval_ms = interval_ms;
	uv_timer_start(&r->scan, on_scan, r->scan_interval_ms,
		       r->scan_interval_ms);
}

void node_repl__capture_stop(node_repl_t *r)
{
	if (r->hook_fd >= 0) {
		r->closing++;
		uv_close((uv_handle_t *)&r->hook, node_repl__closed_uv);
	}
	while (r->hook_clients != NULL)
		client_close(r->hook_clients);
}

void node_repl__capture_free(node_repl_t *r)
{
	if (r->hook_fd >= 0) {
		close(r->hook_fd);
		if (r->hook_path[0])
			unlink(r->hook_path);
	}
}
