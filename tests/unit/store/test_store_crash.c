/* SPDX-License-Identifier: MIT */
/*
 * Crash safety: a forked child opens the store (durable commits, a tiny
 * initial map so it also grows while being killed) and commits
 * deterministic batches in a loop, trimming the log now and then, reporting
 * each committed last_seq through a pipe.  The parent SIGKILLs it at a
 * random moment, reopens the store and requires store_check() to pass, no
 * reported commit to be lost, and the records to equal a model replayed to
 * exactly the store's last_seq (so no batch was half applied).  Several
 * rounds run on the same store.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model.h"

#define NKEYS  400
#define ROUNDS 10

static const store_opts_t crash_opts = { .map_size = 256 << 10,
					 .retain_count = 300 };

/* Generate batch k deterministically from the model state and k. */
static void gen(batch_t *b, const model_t *m, uint64_t seed, uint64_t k)
{
	uint64_t s = seed ^ ((k + 1) * 0x9e3779b97f4a7c15ull);
	batch_gen(b, m, &s, 16);
}

/*
 * Replay batches 0, 1, ... into a fresh model until it has \p target seqs;
 * returns the number of batches used.  Returns UINT64_MAX if a batch would
 * jump past \p target (a partially applied batch).
 */
static uint64_t replay(model_t *m, batch_t *b, uint64_t seed, uint64_t target)
{
	uint64_t k = 0;
	while (m->last_seq < target) {
		gen(b, m, seed, k++);
		model_apply(m, b);
		if (m->last_seq > target)
			return UINT64_MAX;
	}
	return k;
}

static void write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3);
		c += w;
		n -= (size_t)w;
	}
}

static void child(const char *dir, uint64_t seed, int fd)
{
	store_t *s = NULL;
	store_txn_t *t;
	store_meta_t meta;
	model_t m;
	batch_t b = { 0 };
	if (store_open(dir, &crash_opts, &s) != 0)
		_exit(4);
	if (store_read_begin(s, &t) != 0 || store_meta_get(t, &meta) != 0)
		_exit(5);
	store_read_end(t);
	model_init(&m, NKEYS);
	uint64_t k = replay(&m, &b, seed, meta.last_seq);
	if (k == UINT64_MAX)
		_exit(6);
	for (;; k++) {
		uint64_t f, l;
		gen(&b, &m, seed, k);
		model_apply(&m, &b);
		if (store_commit(s, b.ch, b.n, k, &f, &l) != 0)
			_exit(7);
		if (l != m.last_seq)
			_exit(8);
		write_all(fd, &l, sizeof(l));
		if (k % 37 == 0 && store_log_trim(s, UINT64_MAX) != 0)
			_exit(9);
	}
}

static void test_crash(void **state)
{
	(void)state;
	uint64_t seed = test_seed();
	uint64_t rnd = seed;
	char *dir = test_mkdtemp("crash");
	model_t m;
	batch_t b = { 0 };
	uint64_t prev_last = 0;
	for (int round = 0; round < ROUNDS; round++) {
		int pfd[2];
		assert_int_equal(pipe(pfd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			child(dir, seed, pfd[1]);
			_exit(2);
		}
		close(pfd[1]);
		/* let it run 20..400 ms, then kill it mid-flight */
		struct timespec ts = { 0, (long)(20 + test_rand(&rnd) % 380) *
						  1000000L };
		nanosleep(&ts, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		int status = 0;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("child exited by itself (status %d)", status);
		uint64_t reported = prev_last, v;
		size_t nrep = 0;
		ssize_t r;
		while ((r = read(pfd[0], &v, sizeof(v))) ==
		       (ssize_t)sizeof(v)) {
			assert_true(v >= reported);
			reported = v;
			nrep++;
		}
		close(pfd[0]);

		store_t *s = NULL;
		store_meta_t meta;
		store_txn_t *t;
		assert_ks_ok(store_open(dir, &crash_opts, &s));
		assert_ks_ok(store_check(s));
		assert_ks_ok(store_read_begin(s, &t));
		assert_ks_ok(store_meta_get(t, &meta));
		store_read_end(t);
		print_message(
			"round %d: %zu commits reported, last reported %llu, store last_seq %llu\n",
			round, nrep, (unsigned long long)reported,
			(unsigned long long)meta.last_seq);
		/* no committed change lost; at most the one in flight more */
		assert_true(meta.last_seq >= reported);
		model_init(&m, NKEYS);
		uint64_t k = replay(&m, &b, seed, meta.last_seq);
		if (k == UINT64_MAX)
			fail_msg("store at seq %llu is inside a batch",
				 (unsigned long long)meta.last_seq);
		model_verify(&m, s);
		model_free(&m);
		prev_last = meta.last_seq;
		store_close(s);
	}
	assert_true(prev_last > 0);
	batch_free(&b);
	test_rmtree_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash),
	};
	return test_run_group(tests, NULL, NULL);
}
