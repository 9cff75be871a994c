/* SPDX-License-Identifier: MIT */
/*
 * Control socket: mode 0600, one request per connection answered by the
 * handler, unknown requests answered with an error, oversize requests
 * dropped, a live socket not stolen, a stale one replaced, the file removed
 * on close, a deferred request still waiting when the daemon stops answered
 * "kdcsyncd is stopping".  The client runs in a thread because it blocks.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "node/ctl.h"
#include "helpers/test.h"

static uv_loop_t loop;
static char *dir, *path;
static int handled;

static node_ctl_wait_t *waiting; /* the "slow" request's pending answer */

static int handler(const char *req, ks_buf_t *out, void *arg)
{
	(void)arg;
	handled++;
	if (strcmp(req, "slow") == 0) { /* work that never finishes in time */
		waiting = node_ctl_defer();
		return waiting != NULL ? KS_EOK : KS_EINTERNAL;
	}
	if (strcmp(req, "status") != 0)
		return KS_ENOTSUP;
	char msg[64];
	snprintf(msg, sizeof(msg), "ok %s\n", req);
	return ks_buf_append(out, msg, strlen(msg));
}

typedef struct job {
	uv_async_t done;
	const char *req;
	int ret;
	ks_buf_t reply;
	bool finished;
} job_t;

static void on_done(uv_async_t *a)
{
	job_t *j = a->data;
	j->finished = true;
	uv_close((uv_handle_t *)a, NULL);
}

static void client_thread(void *arg)
{
	job_t *j = arg;
	j->ret = node_ctl_request(path, j->req, &j->reply);
	uv_async_send(&j->done);
}

static void ask_start(const char *req, job_t *j, uv_thread_t *th)
{
	memset(j, 0, sizeof(*j));
	j->req = req;
	uv_async_init(&loop, &j->done, on_done);
	j->done.data = j;
	assert_int_equal(uv_thread_create(th, client_thread, j), 0);
}

static void ask_wait(job_t *j, uv_thread_t *th)
{
	while (!j->finished)
		uv_run(&loop, UV_RUN_ONCE);
	uv_thread_join(th);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static void ask(const char *req, job_t *j)
{
	uv_thread_t th;
	ask_start(req, j, &th);
	ask_wait(j, &th);
}

static bool closed;
static void on_closed(void *arg)
{
	(void)arg;
	closed = true;
}

static void test_requests(void **st)
{
	(void)st;
	node_ctl_t *ctl = NULL, *second = NULL;
	struct stat sb;
	job_t j;

	assert_ks_ok(node_ctl_open(&loop, path, handler, NULL, &ctl));
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);

	ask("status", &j);
	assert_ks_ok(j.ret);
	test_assert_mem_eq(j.reply.data, j.reply.len, "ok status\n", 10);
	ks_buf_free(&j.reply);

	ask("launch missiles", &j);
	assert_ks_ok(j.ret);
	assert_non_null(memmem(j.reply.data, j.reply.len, "error: ", 7));
	ks_buf_free(&j.reply);

	char big[NODE_CTL_REQ_MAX + 50];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	int before = handled;
	ask(big, &j); /* dropped without an answer */
	assert_int_equal(j.reply.len, 0);
	assert_int_equal(handled, before);
	ks_buf_free(&j.reply);

	/* a live daemon's socket is not taken over */
	assert_ks_err(node_ctl_open(&loop, path, handler, NULL, &second),
		      KS_EBUSY);
	assert_null(second);

	closed = false;
	node_ctl_close(ctl, on_closed, NULL);
	while (!closed)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(stat(path, &sb), -1); /* removed */
	assert_ks_err(node_ctl_request(path, "status", &j.reply), KS_ENOENT);
}

static void test_stale_socket(void **st)
{
	(void)st;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	node_ctl_t *ctl = NULL;
	job_t j;
	/* a socket file nobody listens on, as a crashed daemon leaves */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_ks_err(node_ctl_request(path, "status", &j.reply),
		      KS_ECONNREFUSED);
	assert_ks_ok(node_ctl_open(&loop, path, handler, NULL, &ctl));
	ask("status", &j);
	assert_ks_ok(j.ret);
	ks_buf_free(&j.reply);
	closed = false;
	node_ctl_close(ctl, on_closed, NULL);
	while (!closed)
		uv_run(&loop, UV_RUN_ONCE);
}

/* The daemon stops while a request waits for its worker: the client gets
 * an answer, not a bare end of stream; the late answer is dropped. */
static void test_stop_answers_waiting(void **st)
{
	(void)st;
	static const char want[] = "error: kdcsyncd is stopping\n";
	node_ctl_t *ctl = NULL;
	uv_thread_t th;
	job_t j;

	assert_ks_ok(node_ctl_open(&loop, path, handler, NULL, &ctl));
	waiting = NULL;
	ask_start("slow", &j, &th);
	while (waiting == NULL)
		uv_run(&loop, UV_RUN_ONCE);
	closed = false;
	node_ctl_close(ctl, on_closed, NULL);
	ask_wait(&j, &th);
	assert_ks_ok(j.ret);
	test_assert_mem_eq(j.reply.data, j.reply.len, want, sizeof(want) - 1);
	ks_buf_free(&j.reply);
	/* the worker's answer arrives after the stop: nothing sent, freed */
	node_ctl_answer(waiting, KS_EOK,
			(ks_view_t){ (const uint8_t *)"x", 1 });
	waiting = NULL;
	while (!closed)
		uv_run(&loop, UV_RUN_ONCE);
}

static int setup(void **st)
{
	(void)st;
	dir = test_mkdtemp("ks-ctl");
	if (asprintf(&path, "%s/%s", dir, NODE_CTL_SOCKET) < 0)
		return -1;
	return uv_loop_init(&loop);
}

static int teardown(void **st)
{
	(void)st;
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(path);
	test_rmtree_free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_stale_socket),
		cmocka_unit_test(test_stop_answers_waiting),
	};
	return test_run_group(tests, setup, teardown);
}
