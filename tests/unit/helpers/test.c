/* SPDX-License-Identifier: MIT */
/* Implementation of the unit-test helpers in test.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers/test.h"

char *test_mkdtemp(const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	char *path = NULL;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if (asprintf(&path, "%s/%s.XXXXXX", tmp, prefix) < 0)
		fail_msg("asprintf failed");
	if (mkdtemp(path) == NULL)
		fail_msg("mkdtemp '%s' failed", path);
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void test_rmtree_free(char *path)
{
	if (path == NULL)
		return;
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
}

int test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n - 1; /* the directory stream's own descriptor */
}

uint64_t test_rand(uint64_t *seed)
{
	uint64_t x = *seed ? *seed : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*seed = x;
	return x * 0x2545f4914f6cdd1dull;
}

void test_fill_random(void *buf, size_t len, uint64_t *seed)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(test_rand(seed) >> 56);
}

uint64_t test_seed(void)
{
	const char *s = getenv("KS_TEST_SEED");
	uint64_t seed;

	if (s != NULL && *s != '\0') {
		seed = strtoull(s, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ull ^
		       (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
	}
	if (seed == 0)
		seed = 1;
	print_message("KS_TEST_SEED=%llu\n", (unsigned long long)seed);
	return seed;
}

static void hexdump(const char *label, const uint8_t *p, size_t len)
{
	print_message("%s (%zu bytes):", label, len);
	for (size_t i = 0; i < len && i < 256; i++)
		print_message("%s%02x", i % 32 ? " " : "\n  ", p[i]);
	print_message("%s\n", len > 256 ? " ..." : "");
}

void test_assert_mem_eq(const void *got, size_t got_len, const void *want,
			size_t want_len)
{
	if (got_len == want_len &&
	    (got_len == 0 || memcmp(got, want, got_len) == 0))
		return;
	hexdump("got", got, got_len);
	hexdump("want", want, want_len);
	fail_msg("buffers differ");
}

void test__apply_filter(void)
{
	const char *f = getenv("KS_TEST_FILTER");
	if (f != NULL && *f != '\0')
		cmocka_set_test_filter(f);
}

size_t test_capture_stderr(void (*fn)(void), char *out, size_t cap)
{
	int pipefd[2];
	int saved;
	ssize_t n;

	assert_int_equal(pipe(pipefd), 0);
	saved = dup(STDERR_FILENO);
	dup2(pipefd[1], STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(pipefd[1]);
	n = read(pipefd[0], out, cap - 1);
	close(pipefd[0]);
	out[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}
