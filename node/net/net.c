/* SPDX-License-Identifier: MIT */
/* Listener, dialler and connection bookkeeping of one node (see net.h). */
#include "node/net/net.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"

typedef struct entry {
	struct entry *prev, *next;
	node_net_t *net;
	node_conn_t *conn;
	void *arg; /* owner's */
	bool accepted;
} entry_t;

struct node_net {
	uv_loop_t *loop;
	uv_tcp_t listener;
	bool listening;
	bool listener_open;
	bool closing;
	node_tls_ctx_t *tls;
	node_net_opts_t opts;
	node_conn_cbs_t owner;
	entry_t head; /* circular list of live connections */
	size_t count, accepted;
	unsigned refusing; /* refused sockets still closing */
	uint64_t refused;
	uint16_t port;
	void (*done)(void *);
	void *done_arg;
};

static void maybe_done(node_net_t *n)
{
	if (!n->closing || n->count > 0 || n->listener_open || n->refusing)
		return;
	void (*done)(void *) = n->done;
	void *arg = n->done_arg;
	node_tls_ctx_detach(n->tls);
	free(n);
	if (done != NULL)
		done(arg);
}

static int fwd_established(node_conn_t *c, const char *peer, void *arg)
{
	entry_t *e = arg;
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
	n->tls = node_tls_ctx_attach(tls);
	n->opts = *opts;
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
	if (server)
		n->accepted++;
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

/* Accept and drop a connection over the cap. */
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
	ks_log_warn(
		NET,
		"refused connection from '%s': connection limit %u reached (tls.max_connections)",
		ip, n->opts.max_connections);
	uv_close((uv_handle_t *)t, on_refused_close);
}

static void on_connection(uv_stream_t *server, int status)
{
	node_net_t *n = server->data;
	entry_t *e;
	int ret;

	if (status < 0) {
		ks_log_warn(NET, "accept error (%s)", uv_strerror(status));
		return;
	}
	if (n->closing)
		return;
	if (n->accepted >= n->opts.max_connections) {
		refuse(n, server);
		return;
	}
	ret = add_conn(n, true, NULL, NULL, &e);
	if (ret != KS_EOK) {
		ks_log_err(NET, "cannot set up connection (%s)",
			   ks_strerror(ret));
		refuse(n, server);
		return;
	}
	node_conn_accept(e->conn, server);
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
		rc = uv_listen((uv_stream_t *)&n->listener, 128, on_connection);
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
}

void node_net_reconfigure(node_net_t *n, node_tls_ctx_t *tls,
			  const node_net_opts_t *opts)
{
	node_tls_ctx_t *old = n->tls;
	n->tls = node_tls_ctx_attach(tls);
	node_tls_ctx_detach(old);
	n->opts = *opts;
}

size_t node_net_count(const node_net_t *n)
{
	return n->count;
}

uint64_t node_net_refused(const node_net_t *n)
{
	return n->refused;
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
