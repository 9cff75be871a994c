/* SPDX-License-Identifier: MIT */
/* Control socket server (libuv) and client (blocking); see ctl.h. */
#include "node/ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"

#define CLIENT_TIMEOUT_MS 5000

typedef struct client {
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	node_ctl_t *ctl;
	struct client *next;
	int refs;
	bool answered;
	bool deferred; /* node_ctl_defer(): answered later */
	bool replied;  /* write_reply() ran */
	bool closing;
	size_t len;
	char req[NODE_CTL_REQ_MAX + 1];
	ks_buf_t reply;
} client_t;

struct node_ctl {
	uv_loop_t *loop;
	uv_pipe_t server;
	node_ctl_handler_cb cb;
	void *arg;
	char *path;
	client_t *clients;
	int refs; /* server handle + clients */
	bool closing;
	void (*done)(void *);
	void *done_arg;
};

static void ctl_unref(node_ctl_t *ctl)
{
	if (--ctl->refs > 0)
		return;
	void (*done)(void *) = ctl->done;
	void *arg = ctl->done_arg;
	free(ctl->path);
	free(ctl);
	if (done != NULL)
		done(arg);
}

static void client_unref(client_t *c)
{
	if (--c->refs > 0)
		return;
	node_ctl_t *ctl = c->ctl;
	for (client_t **pp = &ctl->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ks_buf_free(&c->reply);
	free(c);
	ctl_unref(ctl);
}

static void on_client_handle_close(uv_handle_t *h)
{
	client_unref(h->data);
}

static void client_close(client_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->pipe, on_client_handle_close);
	uv_close((uv_handle_t *)&c->timer, on_client_handle_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	client_t *c = req->data;
	(void)status;
	client_close(c);
	client_unref(c);
}

static void on_written(uv_write_t *req, int status)
{
	client_t *c = req->data;
	if (status == 0 && !c->closing &&
	    uv_shutdown(&c->sreq, (uv_stream_t *)&c->pipe, on_shutdown) == 0)
		c->refs++;
	else
		client_close(c);
	client_unref(c);
}

/* The client whose request the handler is answering (loop thread only). */
static client_t *current;

static void write_reply(client_t *c, int ret)
{
	uv_buf_t b;

	c->replied = true;
	if (ret != KS_EOK) {
		char msg[200];
		ks_buf_reset(&c->reply);
		snprintf(msg, sizeof(msg), "error: %s\n", ks_strerror(ret));
		if (ks_buf_append(&c->reply, msg, strlen(msg)) != KS_EOK) {
			client_close(c);
			return;
		}
	}
	b = uv_buf_init((char *)c->reply.data, (unsigned)c->reply.len);
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1, on_written) == 0)
		c->refs++;
	else
		client_close(c);
}

static void answer(client_t *c)
{
	node_ctl_t *ctl = c->ctl;
	int ret;

	c->answered = true;
	uv_read_stop((uv_stream_t *)&c->pipe);
	current = c;
	ret = ctl->cb(c->req, &c->reply, ctl->arg);
	current = NULL;
	if (!c->deferred)
		write_reply(c, ret);
}

node_ctl_wait_t *node_ctl_defer(void)
{
	client_t *c = current;

	if (c == NULL || c->deferred)
		return NULL;
	c->deferred = true;
	c->refs++;
	uv_timer_stop(&c->timer); /* the work takes what it takes */
	return (node_ctl_wait_t *)c;
}

void node_ctl_answer(node_ctl_wait_t *w, int ret, ks_view_t reply)
{
	client_t *c = (client_t *)w;

	if (c == NULL)
		return;
	if (!c->closing) {
		ks_buf_reset(&c->reply);
		if (ret == KS_EOK &&
		    ks_buf_append(&c->reply, reply.ptr, reply.len) != KS_EOK)
			ret = KS_ENOMEM;
		write_reply(c, ret);
	}
	client_unref(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	client_t *c = h->data;
	(void)hint;
	*buf = uv_buf_init(c->req + c->len,
			   (unsigned)(NODE_CTL_REQ_MAX - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	client_t *c = s->data;
	char *nl;
	(void)buf;

	if (c->answered)
		return;
	if (nread < 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)nread;
	c->req[c->len] = '\0';
	nl = memchr(c->req, '\n', c->len);
	if (nl != NULL) {
		*nl = '\0';
		answer(c);
	} else if (c->len >= NODE_CTL_REQ_MAX) {
		ks_log_notice(CTL, "control request too long, dropped");
		client_close(c);
	}
}

static void on_client_timer(uv_timer_t *t)
{
	client_t *c = t->data;
	ks_log_notice(CTL, "control client timed out");
	client_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	node_ctl_t *ctl = server->data;
	client_t *c;

	if (status < 0 || ctl->closing)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->ctl = ctl;
	uv_pipe_init(ctl->loop, &c->pipe, 0);
	uv_timer_init(ctl->loop, &c->timer);
	c->pipe.data = c;
	c->timer.data = c;
	c->sreq.data = c;
	c->refs = 2;
	ctl->refs++;
	c->next = ctl->clients;
	ctl->clients = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
	    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0) {
		client_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_client_timer, CLIENT_TIMEOUT_MS, 0);
}

/* Is a daemon answering on path? */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

static void on_server_close(uv_handle_t *h)
{
	ctl_unref(h->data);
}

int node_ctl_open(uv_loop_t *loop, const char *path, node_ctl_handler_cb cb,
		  void *arg, node_ctl_t **out)
{
	struct sockaddr_un sa;
	node_ctl_t *ctl;
	mode_t old;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return KS_ENAMETOOLONG;
	if (socket_alive(path)) {
		ks_log_err(
			CTL,
			"control socket '%s' is in use: is another kdcsyncd running?",
			path);
		return KS_EBUSY;
	}
	unlink(path); /* stale socket of a dead daemon */
	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL || (ctl->path = strdup(path)) == NULL) {
		free(ctl);
		return KS_ENOMEM;
	}
	ctl->loop = loop;
	ctl->cb = cb;
	ctl->arg = arg;
	ctl->refs = 1;
	uv_pipe_init(loop, &ctl->server, 0);
	ctl->server.data = ctl;
	old = umask(0177); /* the socket is born 0600 */
	rc = uv_pipe_bind(&ctl->server, path);
	umask(old);
	if (rc == 0)
		rc = chmod(path, 0600) == 0 ? 0 : -errno;
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&ctl->server, 16, on_connection);
	if (rc != 0) {
		ks_log_err(CTL, "cannot listen on control socket '%s' (%s)",
			   path, uv_strerror(rc));
		ctl->closing = true;
		uv_close((uv_handle_t *)&ctl->server, on_server_close);
		return KS_ENET;
	}
	ks_log_info(CTL, "control socket '%s'", path);
	*out = ctl;
	return KS_EOK;
}

void node_ctl_close(node_ctl_t *ctl, void (*done)(void *), void *arg)
{
	if (ctl->closing)
		return;
	ctl->closing = true;
	ctl->done = done;
	ctl->done_arg = arg;
	unlink(ctl->path);
	for (client_t *c = ctl->clients; c != NULL; c = c->next) {
		/* A request waiting for the worker or a peer (repair, verify,
		 * dump) is answered now: its work is cancelled or its answer
		 * would find the socket gone.  One short line fits the empty
		 * socket buffer, so the synchronous write is enough. */
		if (c->deferred && !c->replied && !c->closing) {
			char msg[64];
			int n = snprintf(msg, sizeof(msg), "error: %s\n",
					 ks_strerror(KS_ESTOPPING));
			uv_buf_t b = uv_buf_init(msg, (unsigned)n);
			c->replied = true;
			(void)uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
		}
		client_close(c);
	}
	uv_close((uv_handle_t *)&ctl->server, on_server_close);
}

/* Requests whose answer waits for database work (a scan, a dump, a local
 * verify of the whole KDB): the daemon answers when it is done, so the
 * client waits as long as that may take. */
static int reply_timeout_ms(const char *request)
{
	if (strcmp(request, "snapshot") == 0 ||
	    strcmp(request, "verify") == 0 || strcmp(request, "repair") == 0 ||
	    strncmp(request, "dump ", 5) == 0)
		return 3600 * 1000;
	return 10000;
}

int node_ctl_request(const char *path, const char *request, ks_buf_t *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	int fd, ret = KS_EOK;
	size_t len = strlen(request);
	ssize_t n;

	if (strlen(path) >= sizeof(sa.sun_path))
		return KS_ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ks_errno(errno);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		ret = ks_errno(errno);
		goto out;
	}
	/* MSG_NOSIGNAL: a daemon that hangs up must not kill the client. */
	if (send(fd, request, len, MSG_NOSIGNAL) != (ssize_t)len ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		ret = KS_EIO;
		goto out;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = poll(&p, 1, reply_timeout_ms(request));
		if (pr == 0) {
			ret = KS_ETIMEDOUT;
			goto out;
		}
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			ret = KS_EIO;
			goto out;
		}
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = KS_EIO;
			goto out;
		}
		if ((ret = ks_buf_append(out, buf, (size_t)n)) != KS_EOK)
			goto out;
	}
out:
	close(fd);
	return ret;
}
