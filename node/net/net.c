/* SPDX-License-Identifier: MIT */
/* Listener, dialler and connection bookkeeping of one node (see net.h). */
#include "node/net/net.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/net/admit.h"

/* Addresses that authenticated as a peer, remembered (least recent out). */
#define LEARNED_MAX 32

/*
 * The listen backlog: the kernel's queue of connections that completed the
 * TCP handshake and wait for accept().  Admission (admit.h) can favour a
 * configured peer only once its connection is accepted; while the queue is
 * full the kernel drops new SYNs, the peer's included, and the peer's TCP
 * retries after 1 s, 3 s, 7 s.  A flood of idle connections that reconnect
 * as they are evicted keeps a small queue full: with 128, 500 such
 * connections delayed 5 % of a known peer's connects by a second or more.
 * So ask for a deep queue (Linux caps it at net.core.somaxconn, 4096 by
 * default): accepting is cheap, and what is accepted is judged at once.
 */
#define LISTEN_BACKLOG 4096

typedef struct entry {
	struct entry *prev, *next;
	node_net_t *net;
	node_conn_t *conn;
	void *arg; /* owner's */
	bool accepted;
	bool established; /* accepted: authenticated */
	bool known;	  /* accepted: from a known address */
} entry_t;

typedef struct learned {
	char ip[INET6_ADDRSTRLEN];
	uint64_t used; /* n->tick when last seen */
} learned_t;

struct node_net {
	uv_loop_t *loop;
	uv_tcp_t listener;
	bool listening;
	bool listener_open;
	bool closing;
	node_tls_ctx_t *tls;
	node_net_opts_t opts;
	node_conn_cbs_t owner;
	entry_t head; /* circular list of live connections, oldest first */
	size_t count, accepted;
	size_t handshakes; /* accepted, not established */
	char **peer_addrs; /* copy of opts.peer_addrs */
	learned_t learned[LEARNED_MAX];
	uint64_t tick;
	unsigned refusing; /* refused sockets still closing */
	uint64_t refused, evicted;
	uint16_t port;
	void (*done)(void *);
	void *done_arg;
};

static void free_addrs(node_net_t *n)
{
	if (n->peer_addrs != NULL)
		for (size_t i = 0; n->peer_addrs[i] != NULL; i++)
			free(n->peer_addrs[i]);
	free(n->peer_addrs);
	n->peer_addrs = NULL;
}

/* Copy the opts' address list (NULL-terminated); the opts keep a borrowed
 * pointer only for the call. */
static int copy_opts(node_net_t *n, const node_net_opts_t *opts)
{
	char **v = calloc(opts->n_peer_addrs + 1, sizeof(char *));

	if (v == NULL)
		return KS_ENOMEM;
	for (size_t i = 0; i < opts->n_peer_addrs; i++) {
		if ((v[i] = strdup(opts->peer_addrs[i])) == NULL) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return KS_ENOMEM;
		}
	}
	free_addrs(n);
	n->peer_addrs = v;
	n->opts = *opts;
	n->opts.peer_addrs = NULL;
	n->opts.n_peer_addrs = 0;
	return KS_EOK;
}

static bool is_known(node_net_t *n, const char *ip)
{
	if (ip[0] == '\0')
		return false;
	for (size_t i = 0; n->peer_addrs[i] != NULL; i++)
		if (strcmp(n->peer_addrs[i], ip) == 0)
			return true;
	for (size_t i = 0; i < LEARNED_MAX; i++)
		if (strcmp(n->learned[i].ip, ip) == 0)
			return true;
	return false;
}

/* An address that authenticated as a configured peer. */
static void learn(node_net_t *n, const char *ip)
{
	learned_t *slot = &n->learned[0];

	if (ip[0] == '\0')
		return;
	n->tick++;
	for (size_t i = 0; i < LEARNED_MAX; i++) {
		if (strcmp(n->learned[i].ip, ip) == 0) {
			n->learned[i].used = n->tick;
			return;
		}
		if (n->learned[i].used < slot->used)
			slot = &n->learned[i];
	}
	snprintf(slot->ip, sizeof(slot->ip), "%s", ip);
	slot->used = n->tick;
}

static void maybe_done(node_net_t *n)
{
	if (!n->closing || n->count > 0 || n->listener_open || n->refusing)
		return;
	void (*done)(void *) = n->done;
	void *arg = n->done_arg;
	node_tls_ctx_detach(n->tls);
	free_addrs(n);
	free(n);
	if (done != NULL)
		done(arg);
}

static int fwd_established(node_conn_t *c, const char *peer, void *arg)
{
	entry_t *e = arg;

	if (e->accepted && !e->established) {
		e->established = true;
		e->net->handshakes--;
	}
	return e->net->owner.established
		       ? e->net->owner.established(c, peer, e->arg)
		       : KS_EOK;
}

static int fwd_frame(node_conn_t *c, ks_view_t frame, void *arg)
{
	entry_t *e = arg;
	return e->net->owner.frame ? e->net->owner.frame(c, frame, e->arg)
				   : KS_EOK;
}

static void fwd_writable(node_conn_t *c, void *arg)
{
	entry_t *e = arg;
	if (e->net->owner.writable)
		e->net->owner.writable(c, e->arg);
}

static void fwd_closed(node_conn_t *c, int err, const char *reason, void *arg)
{
	entry_t *e = arg;
	node_net_t *n = e->net;

	if (n->owner.closed)
		n->owner.closed(c, err, reason, e->arg);
	e->prev->next = e->next;
	e->next->prev = e->prev;
	n->count--;
	if (e->accepted)
		n->accepted--;
	if (e->accepted && !e->established)
		n->handshakes--;
	free(e);
	maybe_done(n);
}

static const node_conn_cbs_t fwd = {
	.established = fwd_established,
	.frame = fwd_frame,
	.writable = fwd_writable,
	.closed = fwd_closed,
};

int node_net_new(uv_loop_t *loop, node_tls_ctx_t *tls,
		 const node_net_opts_t *opts, const node_conn_cbs_t *cbs,
		 node_net_t **out)
{
	node_net_t *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return KS_ENOMEM;
	n->loop = loop;
	if (copy_opts(n, opts) != KS_EOK) {
		free(n);
		return KS_ENOMEM;
	}
	n->tls = node_tls_ctx_attach(tls);
	n->owner = *cbs;
	n->head.next = n->head.prev = &n->head;
	*out = n;
	return KS_EOK;
}

static int add_conn(node_net_t *n, bool server, const char *expect, void *arg,
		    entry_t **out)
{
	entry_t *e = calloc(1, sizeof(*e));
	int ret;

	if (e == NULL)
		return KS_ENOMEM;
	e->net = n;
	e->arg = arg;
	e->accepted = server;
	ret = node_conn_new(n->loop, n->tls, server, expect, &n->opts.limits,
			    &fwd, e, &e->conn);
	if (ret != KS_EOK) {
		free(e);
		return ret;
	}
	e->next = &n->head;
	e->prev = n->head.prev;
	n->head.prev->next = e;
	n->head.prev = e;
	n->count++;
	if (server) {
		n->accepted++;
		n->handshakes++;
	}
	*out = e;
	return KS_EOK;
}

static void on_refused_close(uv_handle_t *h)
{
	node_net_t *n = h->data;
	free(h);
	n->refusing--;
	maybe_done(n);
}

/* Accept and drop a connection we cannot even set up (out of memory). */
static void refuse(node_net_t *n, uv_stream_t *server)
{
	uv_tcp_t *t = malloc(sizeof(*t));
	struct sockaddr_storage ss;
	char ip[INET6_ADDRSTRLEN] = "?";
	int len = sizeof(ss);

	n->refused++;
	if (t == NULL)
		return;
	uv_tcp_init(n->loop, t);
	t->data = n;
	n->refusing++;
	if (uv_accept(server, (uv_stream_t *)t) == 0 &&
	    uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
		else
			uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
	}
	ks_log_limited(KS_LOG_NET, LOG_WARNING,
		       "refused connection from %s: cannot set up a connection",
		       ip);
	uv_close((uv_handle_t *)t, on_refused_close);
}

/* The oldest handshake from an unknown address, or NULL. */
static entry_t *oldest_unknown(node_net_t *n, const entry_t *not_this)
{
	for (entry_t *e = n->head.next; e != &n->head; e = e->next)
		if (e != not_this && e->accepted && !e->established &&
		    !e->known &&
		    node_conn_state(e->conn) == NODE_CONN_HANDSHAKE)
			return e;
	return NULL;
}

static node_admit_limits_t admit_limits(const node_net_t *n)
{
	const node_net_opts_t *o = &n->opts;
	node_admit_limits_t l = {
		.max_connections = o->max_connections,
		.max_handshakes = o->max_handshakes ? o->max_handshakes
						    : o->max_connections,
		.max_per_address = o->max_per_address ? o->max_per_address
						      : o->max_connections,
		.reserved = o->reserved,
	};
	return l;
}

/* Admission of the accepted connection \p ne (counted already). */
static void admit(node_net_t *n, entry_t *ne)
{
	const char *ip = node_conn_remote_ip(ne->conn);
	node_admit_limits_t lim = admit_limits(n);
	node_admit_in_t in = { .known = is_known(n, ip) };
	enum node_admit a;
	entry_t *victim;

	ne->known = in.known;
	for (entry_t *e = n->head.next; e != &n->head; e = e->next) {
		if (!e->accepted || e == ne)
			continue;
		if (e->established)
			in.established++;
		else if (e->known)
			in.known_handshakes++;
		else
			in.handshakes++;
		if (!e->established &&
		    strcmp(node_conn_remote_ip(e->conn), ip) == 0)
			in.from_address++;
	}
	victim = oldest_unknown(n, ne);
	in.evictable = victim != NULL;
	a = node_admit_decide(&lim, &in);
	switch (a) {
	case NODE_ADMIT_ACCEPT:
		node_conn_start(ne->conn);
		return;
	case NODE_ADMIT_EVICT:
		n->evicted++;
		node_conn_close(victim->conn, KS_ELIMIT, node_admit_reason(a));
		node_conn_start(ne->conn);
		return;
	default:
		n->refused++;
		node_conn_close(ne->conn, KS_ELIMIT, node_admit_reason(a));
		return;
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	node_net_t *n = server->data;
	entry_t *e;
	int ret;

	if (status < 0) {
		ks_log_limited(KS_LOG_NET, LOG_WARNING, "accept error (%s)",
			       uv_strerror(status));
		return;
	}
	if (n->closing)
		return;
	ret = add_conn(n, true, NULL, NULL, &e);
	if (ret != KS_EOK) {
		ks_log_err(NET, "cannot set up connection (%s)",
			   ks_strerror(ret));
		refuse(n, server);
		return;
	}
	if (node_conn_accept(e->conn, server) == KS_EOK)
		admit(n, e);
}

static void on_listener_close(uv_handle_t *h)
{
	node_net_t *n = h->data;
	n->listener_open = false;
	maybe_done(n);
}

int node_net_listen(node_net_t *n, const char *host, uint16_t port)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	int rc;

	if (n->listening || n->closing)
		return KS_ESTATE;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
		return KS_EINVAL;
	uv_tcp_init(n->loop, &n->listener);
	n->listener.data = n;
	n->listener_open = true;
	rc = uv_tcp_bind(&n->listener, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&n->listener, LISTEN_BACKLOG,
			       on_connection);
	if (rc == 0)
		rc = uv_tcp_getsockname(&n->listener, (struct sockaddr *)&ss,
					&len);
	if (rc != 0) {
		ks_log_err(NET, "cannot listen on '%s' port %u (%s)", host,
			   port, uv_strerror(rc));
		/* listener_open stays set until the close callback */
		uv_close((uv_handle_t *)&n->listener, on_listener_close);
		return rc == UV_EADDRINUSE ? KS_EADDRINUSE : KS_ENET;
	}
	n->port = ntohs(ss.ss_family == AF_INET
				? ((struct sockaddr_in *)&ss)->sin_port
				: ((struct sockaddr_in6 *)&ss)->sin6_port);
	n->listening = true;
	ks_log_info(NET, "listening on '%s' port %u", host, n->port);
	return KS_EOK;
}

uint16_t node_net_port(const node_net_t *n)
{
	return n->listening ? n->port : 0;
}

int node_net_dial(node_net_t *n, const char *peer, const char *host,
		  uint16_t port, void *arg, node_conn_t **out)
{
	entry_t *e;
	int ret;

	if (n->closing)
		return KS_ESTATE;
	ret = add_conn(n, false, peer, arg, &e);
	if (ret != KS_EOK)
		return ret;
	if (out != NULL)
		*out = e->conn;
	node_conn_connect(e->conn, host, port);
	return KS_EOK;
}

void *node_net_owner(node_conn_t *c)
{
	entry_t *e = node_conn_arg(c);
	return e->net->opts.owner;
}

void node_net_set_arg(node_conn_t *c, void *arg)
{
	/* The connection's own arg is our entry. */
	entry_t *e = node_conn_arg(c);
	e->arg = arg;
	/* The owner adopts an accepted connection once it has checked the
	 * peer: its address is a peer's from now on. */
	if (e->accepted && arg != NULL)
		learn(e->net, node_conn_remote_ip(c));
}

void node_net_reconfigure(node_net_t *n, node_tls_ctx_t *tls,
			  const node_net_opts_t *opts)
{
	node_tls_ctx_t *old = n->tls;
	if (copy_opts(n, opts) != KS_EOK) {
		ks_log_err(NET, "out of memory: connection limits not changed");
		return;
	}
	n->tls = node_tls_ctx_attach(tls);
	node_tls_ctx_detach(old);
}

size_t node_net_count(const node_net_t *n)
{
	return n->count;
}

uint64_t node_net_refused(const node_net_t *n)
{
	return n->refused;
}

uint64_t node_net_evicted(const node_net_t *n)
{
	return n->evicted;
}

size_t node_net_handshakes(const node_net_t *n)
{
	return n->handshakes;
}

void node_net_close(node_net_t *n, void (*done)(void *arg), void *arg)
{
	if (n->closing)
		return;
	n->closing = true;
	n->done = done;
	n->done_arg = arg;
	if (n->listening) {
		n->listening = false;
		uv_close((uv_handle_t *)&n->listener, on_listener_close);
	}
	for (entry_t *e = n->head.next; e != &n->head; e = e->next)
		node_conn_close(e->conn, KS_EOK, "node shutting down");
	/* Defer completion to the loop even when nothing was open. */
	if (n->count == 0 && !n->listener_open && n->refusing == 0) {
		n->listener_open = true;
		uv_tcp_init(n->loop, &n->listener);
		n->listener.data = n;
		uv_close((uv_handle_t *)&n->listener, on_listener_close);
	}
}
