/* SPDX-License-Identifier: MIT */
/*
 * A TLS connection over a libuv TCP handle with frames on top (see conn.h).
 * libuv error codes are negative errno values on Unix, so they pass through
 * as KS_E* codes unchanged; the text is logged here.
 */
#include "node/net/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/time.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define CLOSE_GRACE_MS 2000 /* longest wait for a shutdown to complete */

struct node_conn {
	uv_tcp_t tcp;
	/* handshake timeout, keepalive/idle tick, close guard */
	uv_timer_t timer;
	/* writes queued in one loop turn go out together */
	uv_idle_t flusher;
	uv_getaddrinfo_t gai;
	uv_connect_t connect_req;
	uv_shutdown_t shutdown_req;
	uv_loop_t *loop;
	node_tls_t *tls;
	proto_frame_t framer;
	node_conn_cbs_t cbs;
	void *arg;
	node_conn_limits_t lim;
	enum node_conn_state state;
	bool server;
	bool in_pump;	    /* inside node_tls_pump: defer pumps and closes */
	bool close_pending; /* node_conn_close() called inside the pump */
	bool reading;
	bool congested;
	bool paused; /* by the owner: node_conn_pause() */
	bool gai_pending;
	bool handles_closing;
	bool flush_scheduled;
	int refs; /* open handles + requests in flight */
	int err;
	char reason[200];
	char remote[64];
	char ip[INET6_ADDRSTRLEN]; /* remote address without the port */
	char *expect;
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
	size_t inflight; /* bytes handed to uv_write, not yet completed */
	uint64_t last_rx, last_tx; /* uv_now() */
	uint8_t rbuf[65536];
};

struct wreq {
	uv_write_t req;
	node_conn_t *c;
	size_t len;
	uint8_t data[];
};

static const char *const state_names[NODE_CONN_STATE_COUNT] = {
	[NODE_CONN_CONNECTING] = "connecting",
	[NODE_CONN_HANDSHAKE] = "handshake",
	[NODE_CONN_IO] = "established",
	[NODE_CONN_CLOSING] = "closing",
	[NODE_CONN_CLOSED] = "closed",
};

const char *node_conn_state_name(enum node_conn_state s)
{
	return (unsigned)s < NODE_CONN_STATE_COUNT ? state_names[s] : "?";
}

static void do_close(node_conn_t *c);

static void unref(node_conn_t *c)
{
	if (--c->refs > 0)
		return;
	c->state = NODE_CONN_CLOSED;
	if (c->cbs.closed != NULL)
		c->cbs.closed(c, c->err, c->reason, c->arg);
	node_tls_free(c->tls);
	proto_frame_deinit(&c->framer);
	free(c->expect);
	free(c);
}

static void on_handle_close(uv_handle_t *h)
{
	unref(h->data);
}

static void close_handles(node_conn_t *c)
{
	if (c->handles_closing)
		return;
	c->handles_closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_handle_close);
	uv_close((uv_handle_t *)&c->timer, on_handle_close);
	uv_close((uv_handle_t *)&c->flusher, on_handle_close);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static bool over_limit(const node_conn_t *c)
{
	return c->inflight + node_tls_pending(c->tls) >
	       c->lim.write_queue_limit;
}

/* Apply back-pressure after queueing, release it after writes complete. */
static void check_pressure(node_conn_t *c)
{
	if (c->state >= NODE_CONN_CLOSING)
		return;
	if (!c->congested && over_limit(c)) {
		c->congested = true;
		if (c->reading) {
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = false;
		}
		ks_log_debug(NET, "'%s': write queue over %zu bytes, pausing",
			     c->remote, c->lim.write_queue_limit);
	} else if (c->congested && c->inflight + node_tls_pending(c->tls) <=
					   c->lim.write_queue_limit / 2) {
		c->congested = false;
		ks_log_debug(NET, "'%s': write queue drained, resuming",
			     c->remote);
		if (c->cbs.writable != NULL)
			c->cbs.writable(c, c->arg);
		if (c->state < NODE_CONN_CLOSING && !c->reading &&
		    !c->congested && !c->paused)
			c->reading = uv_read_start((uv_stream_t *)&c->tcp,
						   on_alloc, on_read) == 0;
	}
}

void node_conn_pause(node_conn_t *c, bool pause)
{
	if (c->paused == pause)
		return;
	c->paused = pause;
	if (c->state != NODE_CONN_IO)
		return;
	if (pause && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	} else if (!pause) {
		/* what arrived meanwhile (keepalives included) is read now */
		c->last_rx = uv_now(c->loop);
		if (!c->reading && !c->congested)
			c->reading = uv_read_start((uv_stream_t *)&c->tcp,
						   on_alloc, on_read) == 0;
	}
}

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	node_conn_t *c = w->c;

	c->inflight -= w->len;
	free(w);
	if (status < 0 && c->state < NODE_CONN_CLOSING) {
		char msg[120];
		snprintf(msg, sizeof(msg), "write failed (%s)",
			 uv_strerror(status));
		node_conn_close(c, KS_ENET, msg);
	} else {
		check_pressure(c);
	}
	unref(c);
}

/* tls io.send: ciphertext to the socket. */
static int tls_send(void *arg, const uint8_t *p, size_t n)
{
	node_conn_t *c = arg;
	struct wreq *w;
	uv_buf_t b;
	int rc;

	if (c->handles_closing)
		return KS_ECLOSED;
	w = malloc(sizeof(*w) + n);
	if (w == NULL)
		return KS_ENOMEM;
	w->c = c;
	w->len = n;
	memcpy(w->data, p, n);
	b = uv_buf_init((char *)w->data, (unsigned)n);
	rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (rc < 0) {
		ks_log_debug(NET, "'%s': uv_write: %s", c->remote,
			     uv_strerror(rc));
		free(w);
		return KS_ENET;
	}
	c->refs++;
	c->inflight += n;
	c->bytes_out += n;
	c->last_tx = uv_now(c->loop);
	return KS_EOK;
}

static int on_frame(ks_view_t frame, void *arg)
{
	node_conn_t *c = arg;
	int ret;

	c->frames_in++;
	if (frame.len >= 1 && frame.ptr[0] == PROTO_MSG_KEEPALIVE)
		return KS_EOK; /* its arrival already refreshed last_rx */
	ret = c->cbs.frame(c, frame, c->arg);
	if (ret != KS_EOK)
		return ret;
	return c->state >= NODE_CONN_CLOSING || c->close_pending ? 1 : 0;
}

/* tls io.recv: plaintext into the frame assembler. */
static int tls_recv(void *arg, const uint8_t *p, size_t n)
{
	node_conn_t *c = arg;
	int ret;

	if (c->state >= NODE_CONN_CLOSING || c->close_pending)
		return 1;
	ret = proto_frame_feed(&c->framer, p, n, on_frame, c, NULL);
	if (ret == 1)
		return 1;
	if (ret != KS_EOK)
		ks_log_notice(NET, "'%s': bad frame from peer (%s)", c->remote,
			      ks_strerror(ret));
	return ret;
}

static void on_timer(uv_timer_t *t);

static int tls_established(void *arg, const char *peer)
{
	node_conn_t *c = arg;
	uint64_t tick = c->lim.keepalive_ms;

	c->state = NODE_CONN_IO;
	if (c->lim.idle_timeout_ms < tick)
		tick = c->lim.idle_timeout_ms;
	tick = tick / 2 > 10 ? tick / 2 : 10;
	uv_timer_start(&c->timer, on_timer, tick, tick);
	ks_log_info(NET, "%s '%s' (%s) authenticated, %s",
		    c->server ? "accepted" : "connected to", peer, c->remote,
		    node_tls_version(c->tls));
	return c->cbs.established != NULL ? c->cbs.established(c, peer, c->arg)
					  : KS_EOK;
}

/* Run the pump and act on its outcome. */
static void pump(node_conn_t *c, const uint8_t *in, size_t n)
{
	int ret;

	if (c->in_pump || c->state >= NODE_CONN_CLOSING)
		return;
	c->in_pump = true;
	ret = node_tls_pump(c->tls, in, n);
	c->in_pump = false;
	if (c->close_pending) {
		c->close_pending = false;
		do_close(c);
		return;
	}
	if (ret != KS_EOK) {
		const char *r = node_tls_reason(c->tls);
		node_conn_close(c, ret, r[0] ? r : ks_strerror(ret));
		return;
	}
	if (node_tls_state(c->tls) == NODE_TLS_CLOSED) {
		node_conn_close(c, KS_EOK, "closed by peer");
		return;
	}
	check_pressure(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	node_conn_t *c = h->data;
	(void)hint;
	*buf = uv_buf_init((char *)c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	node_conn_t *c = s->data;

	if (nread > 0) {
		c->bytes_in += (uint64_t)nread;
		c->last_rx = uv_now(c->loop);
		pump(c, (const uint8_t *)buf->base, (size_t)nread);
	} else if (nread == UV_EOF) {
		node_conn_close(
			c, KS_ECLOSED,
			c->state == NODE_CONN_HANDSHAKE
				? "peer closed the connection during the handshake"
				: "peer closed the connection without close_notify");
	} else if (nread < 0) {
		char msg[120];
		snprintf(msg, sizeof(msg), "read failed (%s)",
			 uv_strerror((int)nread));
		node_conn_close(c, KS_ENET, msg);
	}
}

static void send_keepalive(node_conn_t *c)
{
	proto_msg_t m = { .type = PROTO_MSG_KEEPALIVE };
	ks_buf_t b = KS_BUF_INIT;

	m.u.keepalive.time_us = ks_real_us();
	if (proto_msg_encode(&m, &b) == KS_EOK)
		node_conn_send(c, b.data, b.len);
	ks_buf_free(&b);
}

static void on_timer(uv_timer_t *t)
{
	node_conn_t *c = t->data;
	uint64_t now = uv_now(c->loop);
	char msg[120];

	switch (c->state) {
	case NODE_CONN_CONNECTING:
	case NODE_CONN_HANDSHAKE:
		snprintf(msg, sizeof(msg), "handshake timed out after %llu ms",
			 (unsigned long long)c->lim.handshake_timeout_ms);
		node_conn_close(c, KS_ETIMEDOUT, msg);
		break;
	case NODE_CONN_IO:
		/* paused: the peer's frames wait in the socket unread */
		if (!c->paused && now - c->last_rx >= c->lim.idle_timeout_ms) {
			snprintf(msg, sizeof(msg),
				 "idle timeout (nothing received for %llu ms)",
				 (unsigned long long)(now - c->last_rx));
			node_conn_close(c, KS_ETIMEDOUT, msg);
		} else if (now - c->last_tx >= c->lim.keepalive_ms) {
			send_keepalive(c);
		}
		break;
	default:
		close_handles(c); /* shutdown did not complete in time */
		break;
	}
}

int node_conn_new(uv_loop_t *loop, node_tls_ctx_t *tls, bool server,
		  const char *expect, const node_conn_limits_t *lim,
		  const node_conn_cbs_t *cbs, void *arg, node_conn_t **out)
{
	node_conn_t *c = calloc(1, sizeof(*c));
	node_tls_io_t io;
	int ret;

	if (c == NULL)
		return KS_ENOMEM;
	c->loop = loop;
	c->cbs = *cbs;
	c->arg = arg;
	c->lim = *lim;
	c->server = server;
	c->state = server ? NODE_CONN_HANDSHAKE : NODE_CONN_CONNECTING;
	if (expect != NULL && (c->expect = strdup(expect)) == NULL) {
		free(c);
		return KS_ENOMEM;
	}
	io = (node_tls_io_t){ .arg = c,
			      .send = tls_send,
			      .recv = tls_recv,
			      .established = tls_established };
	ret = node_tls_new(tls, server, expect, &io, &c->tls);
	if (ret != KS_EOK) {
		free(c->expect);
		free(c);
		return ret;
	}
	proto_frame_init(&c->framer, lim->max_frame);
	/* Both inits cannot fail on a valid loop. */
	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->timer);
	uv_idle_init(loop, &c->flusher);
	c->tcp.data = c;
	c->timer.data = c;
	c->flusher.data = c;
	c->refs = 3;
	*out = c;
	return KS_EOK;
}

static void set_remote(node_conn_t *c, const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN] = "";
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (sa == NULL) {
		if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len))
			return;
		sa = (struct sockaddr *)&ss;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		uv_ip4_name(in, ip, sizeof(ip));
		snprintf(c->ip, sizeof(c->ip), "%s", ip);
		snprintf(c->remote, sizeof(c->remote), "%s:%u", ip,
			 ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)sa;
		uv_ip6_name(in, ip, sizeof(ip));
		snprintf(c->ip, sizeof(c->ip), "%s", ip);
		snprintf(c->remote, sizeof(c->remote), "[%s]:%u", ip,
			 ntohs(in->sin6_port));
	}
}

static void start_handshake(node_conn_t *c)
{
	/* Small frames (acks, single changes) must not wait for Nagle. */
	uv_tcp_nodelay(&c->tcp, 1);
	c->state = NODE_CONN_HANDSHAKE;
	c->last_rx = c->last_tx = uv_now(c->loop);
	uv_timer_start(&c->timer, on_timer, c->lim.handshake_timeout_ms, 0);
	c->reading =
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
	if (!c->reading) {
		node_conn_close(c, KS_ENET, "cannot read from socket");
		return;
	}
	if (!c->server)
		pump(c, NULL, 0); /* ClientHello */
}

int node_conn_accept(node_conn_t *c, uv_stream_t *listener)
{
	int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
	if (rc < 0) {
		char msg[120];
		snprintf(msg, sizeof(msg), "accept failed (%s)",
			 uv_strerror(rc));
		node_conn_close(c, KS_ENET, msg);
		return KS_ENET;
	}
	set_remote(c, NULL);
	return KS_EOK;
}

void node_conn_start(node_conn_t *c)
{
	if (c->state < NODE_CONN_CLOSING && !c->close_pending)
		start_handshake(c);
}

static void on_connected(uv_connect_t *req, int status)
{
	node_conn_t *c = req->data;

	if (c->state < NODE_CONN_CLOSING) {
		if (status < 0) {
			char msg[120];
			snprintf(msg, sizeof(msg), "connect to %s failed (%s)",
				 c->remote, uv_strerror(status));
			node_conn_close(c, status, msg);
		} else {
			start_handshake(c);
		}
	}
	unref(c);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	node_conn_t *c = req->data;
	int rc;

	c->gai_pending = false;
	if (c->state >= NODE_CONN_CLOSING) {
		/* closed meanwhile */
	} else if (status < 0 || ai == NULL) {
		char msg[160];
		snprintf(msg, sizeof(msg), "cannot resolve '%s' (%s)",
			 c->expect ? c->expect : "?",
			 uv_strerror(status < 0 ? status : UV_EAI_NONAME));
		node_conn_close(c, KS_ENET, msg);
	} else {
		set_remote(c, ai->ai_addr);
		/* The handshake timeout also bounds the TCP connect. */
		uv_timer_start(&c->timer, on_timer, c->lim.handshake_timeout_ms,
			       0);
		c->connect_req.data = c;
		rc = uv_tcp_connect(&c->connect_req, &c->tcp, ai->ai_addr,
				    on_connected);
		if (rc < 0) {
			char msg[120];
			snprintf(msg, sizeof(msg), "connect to %s failed (%s)",
				 c->remote, uv_strerror(rc));
			node_conn_close(c, rc, msg);
		} else {
			c->refs++;
		}
	}
	uv_freeaddrinfo(ai);
	unref(c);
}

void node_conn_connect(node_conn_t *c, const char *host, uint16_t port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	char portstr[8];
	int rc;

	snprintf(portstr, sizeof(portstr), "%u", port);
	snprintf(c->remote, sizeof(c->remote), "%s:%u", host, port);
	c->gai.data = c;
	rc = uv_getaddrinfo(c->loop, &c->gai, on_resolved, host, portstr,
			    &hints);
	if (rc < 0) {
		char msg[120];
		snprintf(msg, sizeof(msg), "cannot resolve '%s' (%s)", host,
			 uv_strerror(rc));
		node_conn_close(c, KS_ENET, msg);
		return;
	}
	c->gai_pending = true;
	c->refs++;
}

static void on_flush(uv_idle_t *h)
{
	node_conn_t *c = h->data;

	uv_idle_stop(h);
	c->flush_scheduled = false;
	pump(c, NULL, 0);
}

int node_conn_send(node_conn_t *c, const void *p, size_t n)
{
	int ret;

	if (c->state != NODE_CONN_IO || c->close_pending)
		return KS_ESTATE;
	ret = node_tls_write(c->tls, p, n);
	if (ret != KS_EOK)
		return ret;
	c->frames_out++;
	/*
	 * Encrypt at the end of this loop turn, so a burst of frames becomes
	 * full TLS records and few writes; the idle handle keeps the loop
	 * from blocking meanwhile.  Inside the pump the pump drains itself.
	 */
	if (!c->in_pump && !c->flush_scheduled) {
		c->flush_scheduled = true;
		uv_idle_start(&c->flusher, on_flush);
	}
	check_pressure(c);
	return KS_EOK;
}

bool node_conn_congested(const node_conn_t *c)
{
	return c->congested || over_limit(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	node_conn_t *c = req->data;
	(void)status;
	close_handles(c);
	unref(c);
}

/* The close itself, outside the pump. */
static void do_close(node_conn_t *c)
{
	enum node_conn_state prev = c->state;

	c->state = NODE_CONN_CLOSING;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
	if (c->gai_pending)
		uv_cancel((uv_req_t *)&c->gai);
	if (c->err == KS_EOK && prev == NODE_CONN_IO &&
	    node_tls_state(c->tls) == NODE_TLS_IO) {
		node_tls_close(c->tls);
		c->in_pump = true;
		node_tls_pump(c->tls, NULL, 0); /* close_notify */
		c->in_pump = false;
	}
	if (prev >= NODE_CONN_HANDSHAKE && !c->handles_closing) {
		/* Let queued bytes (close_notify, a TLS alert) go out first. */
		c->shutdown_req.data = c;
		if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp,
				on_shutdown) == 0) {
			c->refs++;
			uv_timer_start(&c->timer, on_timer, CLOSE_GRACE_MS, 0);
			return;
		}
	}
	close_handles(c);
}

void node_conn_close(node_conn_t *c, int err, const char *reason)
{
	const char *peer = node_tls_peer(c->tls);

	if (c->state >= NODE_CONN_CLOSING || c->close_pending)
		return;
	c->err = err;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	if (err == KS_EOK)
		ks_log_info(NET, "connection %s '%s' closed: %s", c->remote,
			    peer ? peer : "", reason);
	else if (c->state == NODE_CONN_IO)
		ks_log_notice(NET, "connection %s '%s' lost: %s", c->remote,
			      peer ? peer : "", reason);
	else if (c->server)
		/* A client that never authenticated: anyone can cause these,
		 * at any rate, from any address (the port says nothing). */
		ks_log_limited(KS_LOG_NET, LOG_NOTICE,
			       "refused connection from %s: %s",
			       c->ip[0] ? c->ip : "?", reason);
	else
		ks_log_notice(NET, "connection to '%s' (%s) failed: %s",
			      c->expect ? c->expect : "", c->remote, reason);
	if (c->in_pump) {
		c->close_pending = true;
		return;
	}
	do_close(c);
}

enum node_conn_state node_conn_state(const node_conn_t *c)
{
	return c->state;
}

const char *node_conn_peer(const node_conn_t *c)
{
	return c->state == NODE_CONN_IO ? node_tls_peer(c->tls) : NULL;
}

const char *node_conn_remote(const node_conn_t *c)
{
	return c->remote;
}

const char *node_conn_remote_ip(const node_conn_t *c)
{
	return c->ip;
}

uint64_t node_conn_bytes_in(const node_conn_t *c)
{
	return c->bytes_in;
}

uint64_t node_conn_bytes_out(const node_conn_t *c)
{
	return c->bytes_out;
}

uint64_t node_conn_frames_in(const node_conn_t *c)
{
	return c->frames_in;
}

uint64_t node_conn_frames_out(const node_conn_t *c)
{
	return c->frames_out;
}

void node_conn_set_arg(node_conn_t *c, void *arg)
{
	c->arg = arg;
}

void *node_conn_arg(const node_conn_t *c)
{
	return c->arg;
}
