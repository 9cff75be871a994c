/* SPDX-License-Identifier: MIT */
/*
 * The KDB module's report sender (bridge/kdbmod/send.c) against a real
 * SOCK_SEQPACKET listener: the environment variable wins over the profile
 * path; no listener costs nothing and counts nothing; a node that does not
 * read makes reports count as dropped without ever blocking, and the next
 * message that gets through carries the count; kdbmod_send_flush delivers
 * a LOST report; a node restart (socket bound again) gets the next report
 * over a new connection.  A master key change (MKEY) asks for an answer
 * even without the synchronous marker and waits for it, bounded by the
 * configured wait; one that no node confirms is said on stderr.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bridge/kdbmod/kdbmod.h"
#include "bridge/report.h"
#include "helpers/test.h"

static char *dir;
static char path[100];

static int listener(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memcpy(a.sun_path, path, strlen(path) + 1);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int accept_one(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	assert_true(fd >= 0);
	return fd;
}

/* Receive one report (waiting up to 5 s); false if none is pending. */
static bool recv_report(int fd, ks_report_t *r, uint8_t *buf, int wait_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, wait_ms) != 1)
		return false;
	ssize_t n = recv(fd, buf, KS_REPORT_MAX_LEN, MSG_DONTWAIT);
	if (n <= 0)
		return false;
	assert_ks_ok(ks_report_decode(buf, (size_t)n, r));
	return true;
}

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* The node's side of one MKEY request: read it, answer after 300 ms. */
static int answer_fd;
static void *answer_later(void *arg)
{
	static uint8_t in[KS_REPORT_MAX_LEN];
	uint8_t out[KS_REPORT_HDR_LEN];
	ks_report_t r, a = { .kind = KS_REPORT_ANSWER };
	size_t n = 0;

	(void)arg;
	if (!recv_report(answer_fd, &r, in, 5000))
		return NULL;
	usleep(300 * 1000);
	a.id = r.id;
	if (ks_report_encode(&a, out, sizeof(out), &n) == KS_EOK)
		(void)send(answer_fd, out, n, MSG_NOSIGNAL);
	return (void *)(uintptr_t)(r.kind == KS_REPORT_MKEY &&
				   (r.flags & KS_REPORT_F_REPLY));
}

/* What the sender wrote to stderr while \p fn ran. */
static char said[4096];
static void capture_stderr(void (*fn)(void))
{
	char tmpl[200];
	snprintf(tmpl, sizeof(tmpl), "%s/stderr", dir);
	int fd = open(tmpl, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int saved = dup(2);
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, said, sizeof(said) - 1, 0);
	said[n > 0 ? n : 0] = '\0';
	close(fd);
}

static void send_mkey(void)
{
	kdbmod_send_mkey("K/M@R", 5, true);
}

static void send_final_mkey(void)
{
	kdbmod_send_mkey("K/M@R", 5, false);
}

static void test_sender(void **state)
{
	(void)state;
	static uint8_t buf[KS_REPORT_MAX_LEN];
	ks_report_t r;

	dir = test_mkdtemp("ks-send");
	snprintf(path, sizeof(path), "%s/c.sock", dir);
	assert_true(strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path));
	/* the environment wins over the profile's path */
	setenv(KDBMOD_SOCKET_ENV, path, 1);
	kdbmod_send_configure("/nonexistent/profile.sock", 1000);
	kdbmod_send_configure("/nonexistent/second.sock", 0); /* first wins */

	/* 1. nobody listens: every report returns at once; a master key
	 * change says so on stderr */
	uint64_t t0 = mono_ms();
	for (int i = 0; i < 1000; i++)
		kdbmod_send(KS_REPORT_PRINC_PUT, "nobody@R", 8);
	capture_stderr(send_mkey);
	assert_true(mono_ms() - t0 < 5000); /* generous: no waiting at all */
	assert_non_null(strstr(said, "K/M@R changed"));
	assert_non_null(strstr(said, "no node listens there"));
	assert_non_null(strstr(said, path));
	/* a single-key K/M state (create, purge) is found by the next scan:
	 * nothing to say */
	capture_stderr(send_final_mkey);
	assert_string_equal(said, "");

	/* 2. a node listens: the next report arrives, not counting the
	 * reports made while nobody listened */
	int lfd = listener();
	kdbmod_send(KS_REPORT_POLICY_PUT, "pol", 3);
	int cfd = accept_one(lfd);
	assert_true(recv_report(cfd, &r, buf, 5000));
	assert_int_equal(r.kind, KS_REPORT_POLICY_PUT);
	assert_int_equal(r.dropped, 0);
	assert_int_equal(r.name_len, 3);
	assert_memory_equal(r.name, "pol", 3);

	/* 3. the node does not read: reports fill the buffer, then count
	 * as dropped; no send ever blocks */
	unsigned sent = 0;
	t0 = mono_ms();
	for (; sent < 200000; sent++)
		kdbmod_send(KS_REPORT_PRINC_PUT, "fill@R", 6);
	assert_true(mono_ms() - t0 < 20000);
	unsigned got = 0;
	uint32_t first_dropped = 0;
	while (recv_report(cfd, &r, buf, 0)) {
		if (r.dropped != 0 && first_dropped == 0)
			first_dropped = r.dropped;
		got++;
	}
	assert_true(got > 0 && got < sent); /* some got in, some did not */
	assert_int_equal(first_dropped, 0); /* none in the queue knew yet */
	/* the next report that gets through carries the count */
	kdbmod_send(KS_REPORT_PRINC_DEL, "next@R", 6);
	assert_true(recv_report(cfd, &r, buf, 5000));
	assert_int_equal(r.kind, KS_REPORT_PRINC_DEL);
	assert_int_equal(r.dropped, sent - got);
	kdbmod_send(KS_REPORT_PRINC_DEL, "after@R", 7);
	assert_true(recv_report(cfd, &r, buf, 5000));
	assert_int_equal(r.dropped, 0);

	/* 4. flush: drops not yet announced become one LOST report */
	for (sent = 0; sent < 200000; sent++)
		kdbmod_send(KS_REPORT_LOCKOUT, "x@R", 3);
	got = 0;
	while (recv_report(cfd, &r, buf, 0))
		got++;
	kdbmod_send_flush();
	assert_true(recv_report(cfd, &r, buf, 5000));
	assert_int_equal(r.kind, KS_REPORT_LOST);
	assert_int_equal(r.dropped, sent - got);
	assert_int_equal(r.name_len, 0);
	kdbmod_send_flush(); /* nothing pending: sends nothing */
	assert_false(recv_report(cfd, &r, buf, 100));
	/* flush with a node that never reads returns within ~100 ms */
	for (sent = 0; sent < 200000; sent++)
		kdbmod_send(KS_REPORT_LOCKOUT, "x@R", 3);
	t0 = mono_ms();
	kdbmod_send_flush();
	assert_true(mono_ms() - t0 < 2000);
	while (recv_report(cfd, &r, buf, 0))
		;

	/* 5. the node restarts: the next report reconnects */
	close(cfd);
	close(lfd);
	lfd = listener();
	kdbmod_send(KS_REPORT_PRINC_PUT, "again@R", 7);
	cfd = accept_one(lfd);
	assert_true(recv_report(cfd, &r, buf, 5000));
	assert_int_equal(r.kind, KS_REPORT_PRINC_PUT);
	assert_memory_equal(r.name, "again@R", 7);

	/* 6. a master key change waits for the node's answer, without the
	 * synchronous marker; other kinds do not ask */
	pthread_t th;
	void *asked = NULL;
	answer_fd = cfd;
	assert_int_equal(pthread_create(&th, NULL, answer_later, NULL), 0);
	t0 = mono_ms();
	capture_stderr(send_mkey);
	uint64_t took = mono_ms() - t0;
	assert_int_equal(pthread_join(th, &asked), 0);
	assert_true(asked != NULL); /* it was an MKEY asking for an answer */
	assert_true(took >= 250 && took < 5000);
	assert_string_equal(said, ""); /* confirmed: nothing to say */
	kdbmod_send(KS_REPORT_PRINC_PUT, "plain@R", 7);
	assert_true(recv_report(cfd, &r, buf, 5000));
	assert_int_equal(r.flags, 0);
	/* no answer: the write goes on after the configured 1 s, saying so */
	t0 = mono_ms();
	capture_stderr(send_mkey);
	took = mono_ms() - t0;
	assert_true(took >= 900 && took < 5000);
	assert_non_null(strstr(said, "did not answer in time"));
	assert_true(recv_report(cfd, &r, buf, 5000));
	assert_int_equal(r.kind, KS_REPORT_MKEY);
	assert_int_equal(r.flags, KS_REPORT_F_REPLY);
	/* under the DB lock a master key change does not wait */
	kdbmod_send_locked(1);
	t0 = mono_ms();
	kdbmod_send_mkey("K/M@R", 5, true);
	assert_true(mono_ms() - t0 < 500);
	kdbmod_send_locked(-1);
	assert_true(recv_report(cfd, &r, buf, 5000));
	assert_int_equal(r.flags, 0);

	/* 7. a name the format cannot carry becomes LOST */
	size_t big = KS_REPORT_NAME_MAX + 1;
	char *name = malloc(big);
	memset(name, 'n', big);
	kdbmod_send(KS_REPORT_PRINC_PUT, name, big);
	free(name);
	assert_true(recv_report(cfd, &r, buf, 5000));
	assert_int_equal(r.kind, KS_REPORT_LOST);

	kdbmod_send_close();
	close(cfd);
	close(lfd);
	test_rmtree_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sender),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
