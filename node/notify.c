/* SPDX-License-Identifier: MIT */
/* systemd notifications and the loop's watchdog pings (notify.h). */
#include "node/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "common/errors.h"
#include "common/log.h"

struct node_notify {
	uv_timer_t timer;
	node_notify_status_cb status;
	void *arg;
	bool active;   /* NOTIFY_SOCKET is set */
	bool watchdog; /* WATCHDOG_USEC applies to us */
	bool stopping;
	uint64_t watchdog_usec;
	char last_status[256]; /* what systemd shows now */
	void (*done)(void *);
	void *done_arg;
};

/* sd_notify() returns < 0 on a socket error: worth one debug line only,
 * the daemon works the same without a service manager. */
static void send_state(const char *state)
{
	int rc = sd_notify(0, state);

	if (rc < 0)
		ks_log_debug(GENERAL, "sd_notify '%.20s' failed (%s)", state,
			     strerror(-rc));
}

/* STATUS= prefixed by \p head (may be ""); sent when it changed or with a
 * state change. */
static void send_status(node_notify_t *n, const char *head)
{
	ks_buf_t line = KS_BUF_INIT;
	char msg[400];

	n->status(&line, n->arg);
	if (ks_buf_append(&line, "", 1) != KS_EOK) {
		ks_buf_free(&line);
		return;
	}
	for (char *c = (char *)line.data; *c; c++)
		if (*c == '\n')
			*c = ' ';
	if (head[0] == '\0' && strncmp(n->last_status, (char *)line.data,
				       sizeof(n->last_status) - 1) == 0) {
		ks_buf_free(&line);
		return;
	}
	snprintf(n->last_status, sizeof(n->last_status), "%s",
		 (char *)line.data);
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", head, n->last_status);
	send_state(msg);
	ks_buf_free(&line);
}

static void on_tick(uv_timer_t *t)
{
	node_notify_t *n = t->data;

	if (n->watchdog)
		send_state("WATCHDOG=1");
	if (!n->stopping)
		send_status(n, "");
}

int node_notify_new(uv_loop_t *loop, node_notify_status_cb status, void *arg,
		    node_notify_t **out)
{
	node_notify_t *n = calloc(1, sizeof(*n));
	uint64_t usec = 0, period;
	const char *sock = getenv("NOTIFY_SOCKET");

	if (n == NULL)
		return KS_ENOMEM;
	n->status = status;
	n->arg = arg;
	n->active = sock != NULL && sock[0] != '\0';
	uv_timer_init(loop, &n->timer);
	n->timer.data = n;
	if (n->active && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		n->watchdog = true;
		n->watchdog_usec = usec;
	}
	if (n->active) {
		period = n->watchdog ? usec / 2000 : NODE_NOTIFY_STATUS_MS;
		if (period == 0)
			period = 1;
		uv_timer_start(&n->timer, on_tick, period, period);
		/* the loop must not stay alive for this timer alone */
		uv_unref((uv_handle_t *)&n->timer);
		if (n->watchdog)
			ks_log_info(
				GENERAL,
				"systemd watchdog: %llu ms, ping every %llu ms",
				(unsigned long long)usec / 1000,
				(unsigned long long)period);
	}
	*out = n;
	return KS_EOK;
}

bool node_notify_watchdog(const node_notify_t *n, uint64_t *usec)
{
	if (usec != NULL)
		*usec = n->watchdog_usec;
	return n->watchdog;
}

void node_notify_ready(node_notify_t *n)
{
	if (n->active && !n->stopping)
		send_status(n, "READY=1\n");
}

void node_notify_reloading(node_notify_t *n)
{
	struct timespec ts;
	char msg[80];

	if (!n->active || n->stopping)
		return;
	/* MONOTONIC_USEC: what Type=notify-reload (systemd >= 253) wants */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ull +
			 (unsigned long long)ts.tv_nsec / 1000u);
	send_state(msg);
}

void node_notify_stopping(node_notify_t *n)
{
	if (n->stopping)
		return;
	n->stopping = true;
	if (n->active)
		send_state("STOPPING=1\nSTATUS=stopping");
}

static void on_close(uv_handle_t *h)
{
	node_notify_t *n = h->data;
	void (*done)(void *) = n->done;
	void *arg = n->done_arg;

	free(n);
	if (done != NULL)
		done(arg);
}

void node_notify_close(node_notify_t *n, void (*done)(void *), void *arg)
{
	n->done = done;
	n->done_arg = arg;
	uv_close((uv_handle_t *)&n->timer, on_close);
}
