/* SPDX-License-Identifier: MIT */
/* libmicrohttpd's epoll descriptor driven by the libuv loop (metrics.h). */
#include "node/metrics.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "common/errors.h"
#include "common/log.h"

#define METRICS_MAX_CONNECTIONS 16
#define METRICS_CONN_TIMEOUT_S	10
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct node_metrics {
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	node_metrics_render_cb render;
	void *arg;
	int handles; /* poll + timer, until their close callbacks */
	void (*done)(void *);
	void *done_arg;
	uint64_t scrapes;
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[300];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	ks_log_info(NET, "metrics: %s", msg);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code,
			     const char *type, const void *data, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	node_metrics_t *m = cls;
	ks_buf_t body = KS_BUF_INIT;
	enum MHD_Result ret;
	int rc;

	(void)version;
	(void)upload;
	(void)con_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static const char msg[] = "only GET /metrics\n";
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     msg, sizeof(msg) - 1);
	}
	if (*upload_size != 0) { /* a GET with a body: drop it */
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0) {
		static const char msg[] = "not found: try /metrics\n";
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", msg,
			     sizeof(msg) - 1);
	}
	m->scrapes++;
	rc = m->render(&body, m->arg);
	if (rc != KS_EOK) {
		char msg[100];
		int n = snprintf(msg, sizeof(msg), "error: %s\n",
				 ks_strerror(rc));
		ks_buf_free(&body);
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
			     msg, (size_t)n);
	}
	ret = reply(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, body.data,
		    body.len);
	ks_buf_free(&body);
	return ret;
}

static void on_timer(uv_timer_t *t);

/* Let MHD work, then arm the timer for its next timeout. */
static void drive(node_metrics_t *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(m->mhd);
	if (MHD_get_timeout(m->mhd, &ms) == MHD_YES)
		uv_timer_start(&m->timer, on_timer, (uint64_t)ms, 0);
	else
		uv_timer_stop(&m->timer);
}

static void on_timer(uv_timer_t *t)
{
	drive(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	drive(p->data);
}

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
			*ai = NULL;
	char ps[8];
	int rc;

	snprintf(ps, sizeof(ps), "%u", port);
	rc = getaddrinfo(host, ps, &hints, &ai);
	if (rc != 0 || ai == NULL) {
		ks_log_err(NET, "[metrics] listen: cannot resolve '%s' (%s)",
			   host, gai_strerror(rc));
		return KS_ENET;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return KS_EOK;
}

static void on_handle_close(uv_handle_t *h)
{
	node_metrics_t *m = h->data;

	if (--m->handles > 0)
		return;
	void (*done)(void *) = m->done;
	void *arg = m->done_arg;
	free(m);
	if (done != NULL)
		done(arg);
}

int node_metrics_open(uv_loop_t *loop, const char *host, uint16_t port,
		      node_metrics_render_cb render, void *arg,
		      node_metrics_t **out)
{
	struct sockaddr_storage ss = { 0 };
	const union MHD_DaemonInfo *info;
	node_metrics_t *m;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	int ret;

	ret = resolve(host, port, &ss);
	if (ret != KS_EOK)
		return ret;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return KS_ENOMEM;
	m->render = render;
	m->arg = arg;
	m->mhd = MHD_start_daemon(
		flags, port, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)METRICS_MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_CONN_TIMEOUT_S,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (m->mhd == NULL) {
		int e = errno;
		ks_log_err(NET,
			   "cannot listen on [metrics] listen = %s:%u (%s)",
			   host, port, strerror(e));
		free(m);
		return e == EADDRINUSE ? KS_EADDRINUSE : KS_ENET;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || uv_poll_init(loop, &m->poll, info->epoll_fd) != 0) {
		ks_log_err(NET, "metrics: cannot poll the HTTP server");
		MHD_stop_daemon(m->mhd);
		free(m);
		return KS_ENET;
	}
	m->poll.data = m;
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	m->handles = 2;
	uv_poll_start(&m->poll, UV_READABLE, on_poll);
	ks_log_info(NET, "metrics on http://%s:%u/metrics", host, port);
	*out = m;
	return KS_EOK;
}

void node_metrics_close(node_metrics_t *m, void (*done)(void *), void *arg)
{
	m->done = done;
	m->done_arg = arg;
	uv_poll_stop(&m->poll);
	MHD_stop_daemon(m->mhd); /* closes the listener and connections */
	m->mhd = NULL;
	uv_close((uv_handle_t *)&m->poll, on_handle_close);
	uv_close((uv_handle_t *)&m->timer, on_handle_close);
}
